;; bad_import.wat: a plugin that imports from a module other than `wasmsock`
;; and `wasi_snapshot_preview1`.
;;
;; Its exports are all correct, but it imports env.abort (the kind of import
;; an unconfigured toolchain leaves behind). The host must refuse to load it
;; and name the import ("env.abort").
(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))

  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    ;; Never reached in a test: the module must not load.
    (call $abort (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
