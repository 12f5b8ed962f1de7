;; missing_export.wat: has the ABI marker but no on_message export.
;;
;; The host must refuse to load it and name the missing export ("on_message").
(module
  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  ;; on_message is deliberately absent.

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
