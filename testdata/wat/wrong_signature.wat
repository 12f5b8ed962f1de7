;; wrong_signature.wat: on_message has the wrong signature.
;;
;; ABI v1 says on_message(conn i64, kind i32, len i32); this module exports
;; on_message(i32, i32, i32). The host must refuse to load it, naming the
;; export with the expected and the actual signature.
(module
  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  ;; Wrong: the first parameter should be i64.
  (func (export "on_message") (param $conn i32) (param $kind i32) (param $len i32))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
