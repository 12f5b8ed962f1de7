;; resume_trap.wat: a plugin that cannot take its connections back.
;;
;; New connections are accepted and messages answered with "ok", except a
;; message whose first byte is 't' (0x74), which traps. on_connect traps when
;; called with the RESUMED flag (1): after any fault, replaying the other
;; connections to the fresh instance fails for each of them. Those failures
;; are the plugin's, not a client's: they count against max_crashes and put the
;; plugin in crash-loop backoff, from which it recovers by itself (a fresh
;; instance with no connection to replay boots fine).
;;
;; Memory layout: 0x00 "ok"; 0x10 the message's first byte.
(module
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "ok")

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (if (i32.and (local.get $flags) (i32.const 1))
      (then (unreachable)))
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (if (i32.and
          (i32.gt_s (call $msg_read (i32.const 0x10) (i32.const 1)) (i32.const 0))
          (i32.eq (i32.load8_u (i32.const 0x10)) (i32.const 0x74)))
      (then (unreachable)))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 2))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
