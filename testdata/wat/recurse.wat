;; recurse.wat: a plugin whose on_message runs for ages without a single loop.
;;
;; Connections are accepted; a message calls $spin(60), which calls itself twice
;; with n-1: 2^60 calls, never deeper than 61 frames, so the stack limit never
;; stops it. Only the host's call_timeout can: the connection being handled is
;; closed with 1011 and the instance replaced, as for loop.wat.
(module
  (memory (export "memory") 1)

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func $spin (param $n i32)
    (if (local.get $n)
      (then
        (call $spin (i32.sub (local.get $n) (i32.const 1)))
        (call $spin (i32.sub (local.get $n) (i32.const 1))))))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (call $spin (i32.const 60)))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
