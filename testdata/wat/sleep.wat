;; sleep.wat: a plugin whose handler sleeps through WASI (poll_oneoff on a clock).
;;
;; Connections are accepted. on_message reads the message's leading ASCII
;; digits as a number of milliseconds (the rest of the message, of any size, is
;; ignored; no digits means 0), sleeps that long with one poll_oneoff clock
;; subscription, then sends the text message "slept" back. The host must bound
;; the sleep by call_timeout: a sleep past it is interrupted like a loop (the
;; connection is closed with 1011, the instance replaced).
;;
;; Memory layout: 0x000 "slept"; 0x100 the message's first 16 bytes;
;; 0x200 the subscription (48 bytes); 0x300 the event (32 bytes); 0x400 the
;; number of events written.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "slept")

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $n i32)
    (local $i i32)
    (local $c i32)
    (local $ms i64)
    (local.set $n (call $msg_read (i32.const 0x100) (i32.const 16)))
    (block $done
      (loop $digits
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (i32.const 0x100) (local.get $i))))
        (br_if $done (i32.lt_u (local.get $c) (i32.const 0x30)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 0x39)))
        (local.set $ms
          (i64.add (i64.mul (local.get $ms) (i64.const 10))
                   (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 0x30)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $digits)))
    ;; subscription: userdata 0, tag 0 (clock), clock id 1 (monotonic),
    ;; timeout in ns, precision 0, flags 0 (relative)
    (i64.store (i32.const 0x200) (i64.const 0))
    (i32.store8 (i32.const 0x208) (i32.const 0))
    (i32.store (i32.const 0x210) (i32.const 1))
    (i64.store (i32.const 0x218) (i64.mul (local.get $ms) (i64.const 1000000)))
    (i64.store (i32.const 0x220) (i64.const 0))
    (i32.store16 (i32.const 0x228) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 0x200) (i32.const 0x300) (i32.const 1) (i32.const 0x400)))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 5))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
