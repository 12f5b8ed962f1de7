;; closeloop.wat: a plugin whose on_close never returns.
;;
;; Connections are accepted and messages echoed as "ok"; on_close spins
;; forever. A drain (SIGTERM) that waits for every on_close would never end:
;; the host must stop within drain_timeout whatever on_close does.
;;
;; Memory layout: 0x00 "ok".
(module
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "ok")

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 2))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32)
    (loop $forever
      (br $forever)))
)
