;; hostile.wat: calls every host function with bad arguments and reports the
;; statuses, so a test can check that each one is the right error code (and
;; that none of them crashes the host or traps the guest).
;;
;; on_connect accepts. Each on_message (whatever its content, which is never
;; read) makes the calls below, in this order, then sends ONE text message
;; back to the connection: the returned statuses as decimal numbers separated
;; by single spaces (no trailing space). None of the calls has an effect: the
;; connection stays open and no other message is sent.
;;
;; Memory is exactly 17 pages (1 MiB + 64 KiB = 0x110000 bytes, min = max), so
;; the pointer probes do not depend on memory_limit (which must be >= 17
;; pages). "conn" is the connection of the message; "x" is a valid 1-byte text;
;; "\ff\fe" is not UTF-8; unknown ids are 0 (never issued) and 2^64-1.
;;
;;  #  call                                               expected
;;  -- msg_read
;;  1  msg_read(0xFFFFFFF0, 100)                          -1 ErrBadPointer
;;  2  msg_read(0, 0x7FFFFFFF)                            -1 ErrBadPointer
;;  3  msg_read(0x110000, 1)      one byte past the end   -1 ErrBadPointer
;;  4  msg_read(0x110000, 0)      empty range at the end   0 (nothing copied)
;;  -- send
;;  5  send(conn, 1, 0xFFFFFFF0, 100)                     -1 ErrBadPointer
;;  6  send(conn, 2, 0, 0x7FFFFFFF)                       -1 ErrBadPointer (checked before size)
;;  7  send(0, 1, "x", 1)                                 -2 ErrUnknownConn
;;  8  send(2^64-1, 1, "x", 1)                            -2 ErrUnknownConn
;;  9  send(conn, 3, "x", 1)          bad kind            -6 ErrInvalidArgument
;; 10  send(conn, 1, "\ff\fe", 2)     text not UTF-8      -6 ErrInvalidArgument
;; 11  send(conn, 2, 0, 0x100001)     1 MiB + 1 bytes    -10 ErrTooLarge
;;       (assumes the route's max_message_bytes <= 1 MiB, the default; with a
;;       larger limit this returns 0 and the client first receives that
;;       1 MiB + 1 byte binary message of zeros)
;;  -- close (none of these closes anything)
;; 12  close(conn,  999, 0, 0)                            -3 ErrInvalidCode
;; 13  close(conn, 1004, 0, 0)                            -3 ErrInvalidCode
;; 14  close(conn, 1005, 0, 0)                            -3 ErrInvalidCode
;; 15  close(conn, 1006, 0, 0)                            -3 ErrInvalidCode
;; 16  close(conn, 1015, 0, 0)                            -3 ErrInvalidCode
;; 17  close(conn, 2999, 0, 0)                            -3 ErrInvalidCode
;; 18  close(conn, 5000, 0, 0)                            -3 ErrInvalidCode
;; 19  close(conn, 1000, 0xFFFFFFF0, 100)                 -1 ErrBadPointer
;; 20  close(conn, 1000, "\ff\fe", 2) reason not UTF-8    -6 ErrInvalidArgument
;; 21  close(0, 1000, 0, 0)                               -2 ErrUnknownConn
;;  -- conn_get
;; 22  conn_get(conn, key 0xFFFFFFF0/100, buf, 16)        -1 ErrBadPointer
;; 23  conn_get(conn, "id", 0xFFFFFFF0, 100)              -1 ErrBadPointer
;; 24  conn_get(conn, "id", 0, 0x7FFFFFFF)                -1 ErrBadPointer
;; 25  conn_get(conn, "no.such.key", buf, 16)             -5 ErrNotFound
;; 26  conn_get(conn, 257-byte key "aaa...", buf, 16)     -6 ErrInvalidArgument (> 256 bytes)
;; 27  conn_get(0, "id", buf, 16)                         -2 ErrUnknownConn
;;  -- log
;; 28  log(1, 0xFFFFFFF0, 100)                            -1 ErrBadPointer
;; 29  log(1, 0, 0x7FFFFFFF)                              -1 ErrBadPointer
;; 30  log(4, "x", 1)                 bad level           -6 ErrInvalidArgument
;; 31  log(-1, "x", 1)                bad level           -6 ErrInvalidArgument
;;  -- groups (FINAL since the host implemented them; they no longer return -4,
;;     ErrNotSupported). Unknown ids are looked up in the namespace of "conn",
;;     the connection being handled; "user:" groups are managed by the host.
;; 32  broadcast(0xFFFFFFF0/100, 1, "x", 1, 0)            -1 ErrBadPointer
;; 33  broadcast("g", 1, 0xFFFFFFF0, 100, 0)              -1 ErrBadPointer
;; 34  broadcast("g", 3, "x", 1, 0)   bad kind            -6 ErrInvalidArgument
;; 35  broadcast("g", 1, "x", 1, except 2^64-1)           -2 ErrUnknownConn
;; 36  broadcast("", 1, "x", 1, 0)    empty group name    -6 ErrInvalidArgument
;; 37  join(conn, 0xFFFFFFF0, 100)                        -1 ErrBadPointer
;; 38  join(conn, 129 x "a")          name too long       -6 ErrInvalidArgument
;; 39  join(conn, "a\nb")             control character   -6 ErrInvalidArgument
;; 40  join(conn, "user:x")           host-managed group  -6 ErrInvalidArgument
;; 41  join(0, "g")                                       -2 ErrUnknownConn
;; 42  leave(conn, 0xFFFFFFF0, 100)                       -1 ErrBadPointer
;; 43  leave(conn, "")                empty group name    -6 ErrInvalidArgument
;; 44  leave(0, "g")                                      -2 ErrUnknownConn
;;
;; So the reply (default max_message_bytes) is, as host/hostile_test.go expects:
;; -1 -1 -1 0 -1 -1 -2 -2 -6 -6 -10 -3 -3 -3 -3 -3 -3 -3 -1 -6 -2 -1 -1 -1 -5 -6 -2 -1 -1 -6 -6 -1 -1 -6 -2 -6 -1 -6 -6 -6 -2 -1 -6 -2
;;
;; Memory layout:
;;   0x000 "x"             0x008 "\ff\fe"        0x010 "id"
;;   0x018 "no.such.key"   0x028 "g"             0x030 "a\nb"
;;   0x038 "user:x"        0x040 conn_get buffer (16 bytes)
;;   0x100 257 x "a"       0x380..0x390 digit scratch
;;   0x400 the reply being built
(module
  (import "wasmsock" "msg_read"  (func $msg_read  (param i32 i32) (result i32)))
  (import "wasmsock" "send"      (func $send      (param i64 i32 i32 i32) (result i32)))
  (import "wasmsock" "broadcast" (func $broadcast (param i32 i32 i32 i32 i32 i64) (result i32)))
  (import "wasmsock" "join"      (func $join      (param i64 i32 i32) (result i32)))
  (import "wasmsock" "leave"     (func $leave     (param i64 i32 i32) (result i32)))
  (import "wasmsock" "close"     (func $close     (param i64 i32 i32 i32) (result i32)))
  (import "wasmsock" "conn_get"  (func $conn_get  (param i64 i32 i32 i32 i32) (result i32)))
  (import "wasmsock" "log"       (func $log       (param i32 i32 i32) (result i32)))

  (memory (export "memory") 17 17)
  (data (i32.const 0x000) "x")
  (data (i32.const 0x008) "\ff\fe")
  (data (i32.const 0x010) "id")
  (data (i32.const 0x018) "no.such.key")
  (data (i32.const 0x028) "g")
  (data (i32.const 0x030) "a\nb")
  (data (i32.const 0x038) "user:x")
  ;; 257 bytes of "a" (4 x 64 + 1)
  (data (i32.const 0x100)
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "a")

  ;; Length of the reply built at 0x400.
  (global $out (mut i32) (i32.const 0))

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))

  ;; Append one byte to the reply.
  (func $put (param $b i32)
    (i32.store8 (i32.add (i32.const 0x400) (global.get $out)) (local.get $b))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  ;; Append a status to the reply: a space first unless it is the first one,
  ;; then the signed decimal number.
  (func $rec (param $v i32)
    (local $u i32)
    (local $p i32)
    (if (global.get $out) (then (call $put (i32.const 0x20))))
    (local.set $u (local.get $v))
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then
        (call $put (i32.const 0x2d)) ;; '-'
        (local.set $u (i32.sub (i32.const 0) (local.get $v)))))
    ;; Digits, least significant first, written backwards from 0x390.
    (local.set $p (i32.const 0x390))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 0x30) (i32.rem_u (local.get $u) (i32.const 10))))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $digit (local.get $u)))
    (loop $copy
      (call $put (i32.load8_u (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $copy (i32.lt_u (local.get $p) (i32.const 0x390)))))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (global.set $out (i32.const 0))

    ;; msg_read
    (call $rec (call $msg_read (i32.const 0xFFFFFFF0) (i32.const 100)))                     ;; 1
    (call $rec (call $msg_read (i32.const 0) (i32.const 0x7FFFFFFF)))                       ;; 2
    (call $rec (call $msg_read (i32.const 0x110000) (i32.const 1)))                         ;; 3
    (call $rec (call $msg_read (i32.const 0x110000) (i32.const 0)))                         ;; 4

    ;; send
    (call $rec (call $send (local.get $conn) (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 100)))  ;; 5
    (call $rec (call $send (local.get $conn) (i32.const 2) (i32.const 0) (i32.const 0x7FFFFFFF)))   ;; 6
    (call $rec (call $send (i64.const 0) (i32.const 1) (i32.const 0x000) (i32.const 1)))           ;; 7
    (call $rec (call $send (i64.const -1) (i32.const 1) (i32.const 0x000) (i32.const 1)))          ;; 8
    (call $rec (call $send (local.get $conn) (i32.const 3) (i32.const 0x000) (i32.const 1)))       ;; 9
    (call $rec (call $send (local.get $conn) (i32.const 1) (i32.const 0x008) (i32.const 2)))       ;; 10
    (call $rec (call $send (local.get $conn) (i32.const 2) (i32.const 0) (i32.const 0x100001)))    ;; 11

    ;; close
    (call $rec (call $close (local.get $conn) (i32.const 999)  (i32.const 0) (i32.const 0)))      ;; 12
    (call $rec (call $close (local.get $conn) (i32.const 1004) (i32.const 0) (i32.const 0)))      ;; 13
    (call $rec (call $close (local.get $conn) (i32.const 1005) (i32.const 0) (i32.const 0)))      ;; 14
    (call $rec (call $close (local.get $conn) (i32.const 1006) (i32.const 0) (i32.const 0)))      ;; 15
    (call $rec (call $close (local.get $conn) (i32.const 1015) (i32.const 0) (i32.const 0)))      ;; 16
    (call $rec (call $close (local.get $conn) (i32.const 2999) (i32.const 0) (i32.const 0)))      ;; 17
    (call $rec (call $close (local.get $conn) (i32.const 5000) (i32.const 0) (i32.const 0)))      ;; 18
    (call $rec (call $close (local.get $conn) (i32.const 1000) (i32.const 0xFFFFFFF0) (i32.const 100)))  ;; 19
    (call $rec (call $close (local.get $conn) (i32.const 1000) (i32.const 0x008) (i32.const 2)))  ;; 20
    (call $rec (call $close (i64.const 0) (i32.const 1000) (i32.const 0) (i32.const 0)))           ;; 21

    ;; conn_get
    (call $rec (call $conn_get (local.get $conn) (i32.const 0xFFFFFFF0) (i32.const 100) (i32.const 0x040) (i32.const 16)))  ;; 22
    (call $rec (call $conn_get (local.get $conn) (i32.const 0x010) (i32.const 2) (i32.const 0xFFFFFFF0) (i32.const 100)))  ;; 23
    (call $rec (call $conn_get (local.get $conn) (i32.const 0x010) (i32.const 2) (i32.const 0) (i32.const 0x7FFFFFFF)))    ;; 24
    (call $rec (call $conn_get (local.get $conn) (i32.const 0x018) (i32.const 11) (i32.const 0x040) (i32.const 16)))       ;; 25
    (call $rec (call $conn_get (local.get $conn) (i32.const 0x100) (i32.const 257) (i32.const 0x040) (i32.const 16)))      ;; 26
    (call $rec (call $conn_get (i64.const 0) (i32.const 0x010) (i32.const 2) (i32.const 0x040) (i32.const 16)))             ;; 27

    ;; log
    (call $rec (call $log (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 100)))           ;; 28
    (call $rec (call $log (i32.const 1) (i32.const 0) (i32.const 0x7FFFFFFF)))             ;; 29
    (call $rec (call $log (i32.const 4) (i32.const 0x000) (i32.const 1)))                  ;; 30
    (call $rec (call $log (i32.const -1) (i32.const 0x000) (i32.const 1)))                 ;; 31

    ;; groups: broadcast, join, leave
    (call $rec (call $broadcast (i32.const 0xFFFFFFF0) (i32.const 100) (i32.const 1) (i32.const 0x000) (i32.const 1) (i64.const 0)))  ;; 32
    (call $rec (call $broadcast (i32.const 0x028) (i32.const 1) (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 100) (i64.const 0)))  ;; 33
    (call $rec (call $broadcast (i32.const 0x028) (i32.const 1) (i32.const 3) (i32.const 0x000) (i32.const 1) (i64.const 0)))         ;; 34
    (call $rec (call $broadcast (i32.const 0x028) (i32.const 1) (i32.const 1) (i32.const 0x000) (i32.const 1) (i64.const -1)))        ;; 35
    (call $rec (call $broadcast (i32.const 0x028) (i32.const 0) (i32.const 1) (i32.const 0x000) (i32.const 1) (i64.const 0)))         ;; 36
    (call $rec (call $join (local.get $conn) (i32.const 0xFFFFFFF0) (i32.const 100)))     ;; 37
    (call $rec (call $join (local.get $conn) (i32.const 0x100) (i32.const 129)))          ;; 38
    (call $rec (call $join (local.get $conn) (i32.const 0x030) (i32.const 3)))            ;; 39
    (call $rec (call $join (local.get $conn) (i32.const 0x038) (i32.const 6)))            ;; 40
    (call $rec (call $join (i64.const 0) (i32.const 0x028) (i32.const 1)))                 ;; 41
    (call $rec (call $leave (local.get $conn) (i32.const 0xFFFFFFF0) (i32.const 100)))    ;; 42
    (call $rec (call $leave (local.get $conn) (i32.const 0x028) (i32.const 0)))           ;; 43
    (call $rec (call $leave (i64.const 0) (i32.const 0x028) (i32.const 1)))                ;; 44

    ;; The reply: text, from 0x400, $out bytes.
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x400) (global.get $out))))
)
