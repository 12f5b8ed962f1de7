;; trap.wat: an echo plugin that traps on demand.
;;
;; on_message echoes every message (same kind), except a message whose first
;; byte is 't' (0x74): then it executes `unreachable`, which traps. The host
;; must close that connection with 1011, replace the instance and replay the
;; other connections with on_connect(RESUMED). Messages like "hello" echo.
;;
;; Memory layout: the message buffer is [0, len), grown as needed.
(module
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $pages i32)
    (local $off i32)
    (local $n i32)
    ;; Grow memory to ceil(len / 65536) pages; give up silently if it cannot.
    (local.set $pages
      (i32.shr_u (i32.add (local.get $len) (i32.const 0xffff)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (return)))))
    ;; Read the whole message into [0, len).
    (block $done
      (loop $read
        (br_if $done (i32.ge_u (local.get $off) (local.get $len)))
        (local.set $n
          (call $msg_read (local.get $off) (i32.sub (local.get $len) (local.get $off))))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $off (i32.add (local.get $off) (local.get $n)))
        (br $read)))
    ;; First byte 't': trap.
    (if (i32.and
          (i32.gt_u (local.get $off) (i32.const 0))
          (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x74)))
      (then (unreachable)))
    (drop (call $send (local.get $conn) (local.get $kind) (i32.const 0) (local.get $off))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
