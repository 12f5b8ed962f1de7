;; tag_b.wat: replies to every message with "b:" followed by the message, as text. Two builds
;; that differ only in the tag (tag_a, tag_b) let reload tests see which module served a reply.
;; Messages are at most 64 KiB - 2 bytes (one page of memory, no growth).
(module
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; The tag, at address 0; the message is read in after it.
  (data (i32.const 0) "b:")
  (func (export "wasmsock_abi_v1"))
  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))
  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $n i32)
    (local.set $n (call $msg_read (i32.const 2) (i32.const 65534)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.add (local.get $n) (i32.const 2)))))
  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
