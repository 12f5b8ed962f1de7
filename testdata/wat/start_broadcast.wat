;; start_broadcast.wat: a plugin that broadcasts from on_start, before any connection exists.
;;
;; on_start broadcasts "hello" to the group "all" (nobody is in it yet: 0 members) and accepts
;; its config; on_connect accepts; on_message and on_close do nothing. The host must build and
;; start it the same way in wasmsock check and wasmsock serve (check once crashed on it).
(module
  ;; broadcast(group_ptr, group_len, kind, ptr, len, except_conn) -> members reached or < 0
  (import "wasmsock" "broadcast" (func $broadcast (param i32 i32 i32 i32 i32 i64) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "all")
  (data (i32.const 16) "hello")

  (func (export "wasmsock_abi_v1"))

  ;; on_start(config_len) -> 0 to accept the config.
  (func (export "on_start") (param $len i32) (result i32)
    (drop (call $broadcast (i32.const 0) (i32.const 3) (i32.const 1) (i32.const 16) (i32.const 5) (i64.const 0)))
    (i32.const 0))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
