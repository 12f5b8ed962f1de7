;; timer_no_on_timer.wat: imports timer_set (which makes the host call on_timer) but does not
;; export on_timer.
;;
;; The host must refuse to load it and name the missing export ("on_timer").
(module
  (import "wasmsock" "timer_set"
    (func $timer_set (param i64 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (drop (call $timer_set (local.get $conn) (i32.const 0) (i32.const 1) (i32.const 10) (i32.const 0)))
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))

  ;; on_timer is deliberately absent.
)
