;; reject.wat: a guard plugin that exercises conn_get.
;;
;; on_connect reads the query parameter "token" with conn_get("query.token")
;; and accepts the connection only if it is exactly "letmein"; otherwise it
;; returns 403, so the host answers the upgrade with HTTP 403 and the client
;; never gets a WebSocket. ws://host/route?token=letmein is accepted;
;; no token, ?token=nope or ?token=letmein2 get 403. A RESUMED connection is
;; accepted without looking (the host ignores the result anyway).
;;
;; on_message echoes (same kind), growing memory as needed.
;;
;; Memory layout:
;;   0x00  "query.token"   the conn_get key (11 bytes)
;;   0x10  "letmein"       the expected value (7 bytes)
;;   0x20  16 bytes        where conn_get writes the value
;;   0x100 ...             the message buffer for on_message
(module
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  ;; conn_get(conn, key_ptr, key_len, dst, cap) -> full value length, or < 0
  (import "wasmsock" "conn_get" (func $conn_get (param i64 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0x00) "query.token")
  (data (i32.const 0x10) "letmein")

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (local $n i32)
    (local $i i32)
    ;; flags & 1 = RESUMED: already accepted once.
    (if (i32.and (local.get $flags) (i32.const 1))
      (then (return (i32.const 0))))
    ;; n is the value's full length: ErrNotFound (-5) when there is no token,
    ;; more than 16 when it is long (only 16 bytes are written then).
    (local.set $n
      (call $conn_get (local.get $conn)
        (i32.const 0x00) (i32.const 11)   ;; key "query.token"
        (i32.const 0x20) (i32.const 16))) ;; dst, cap
    (if (i32.ne (local.get $n) (i32.const 7))
      (then (return (i32.const 403))))
    ;; Compare the 7 bytes with "letmein".
    (block $mismatch
      (loop $cmp
        (br_if $mismatch
          (i32.ne
            (i32.load8_u (i32.add (i32.const 0x20) (local.get $i)))
            (i32.load8_u (i32.add (i32.const 0x10) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $cmp (i32.lt_u (local.get $i) (i32.const 7))))
      (return (i32.const 0)))
    (i32.const 403))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $pages i32)
    (local $off i32)
    (local $n i32)
    ;; The buffer is [0x100, 0x100+len): grow to ceil((0x100+len) / 65536) pages.
    (local.set $pages
      (i32.shr_u (i32.add (local.get $len) (i32.const 0x100ff)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (return)))))
    (block $done
      (loop $read
        (br_if $done (i32.ge_u (local.get $off) (local.get $len)))
        (local.set $n
          (call $msg_read
            (i32.add (i32.const 0x100) (local.get $off))
            (i32.sub (local.get $len) (local.get $off))))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $off (i32.add (local.get $off) (local.get $n)))
        (br $read)))
    (drop (call $send (local.get $conn) (local.get $kind) (i32.const 0x100) (local.get $off))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
