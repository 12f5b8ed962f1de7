;; no_marker.wat: a would-be plugin without the ABI marker export.
;;
;; Everything else is right (memory, on_connect, on_message, on_close), but
;; `wasmsock_abi_v1` is missing, so the host must refuse to load it and name
;; the missing marker.
(module
  (memory (export "memory") 1)

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
