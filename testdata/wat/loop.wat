;; loop.wat: a plugin whose on_message never returns.
;;
;; Connections are accepted; the first message on any connection makes
;; on_message spin forever, so the host's call_timeout must interrupt it: the
;; connection being handled is closed with 1011, the instance is replaced and
;; the other connections are replayed with on_connect(RESUMED).
(module
  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (loop $forever
      (br $forever)))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
