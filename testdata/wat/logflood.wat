;; logflood.wat: a plugin that floods the host's log.
;;
;; Connections are accepted. Each on_message makes one log call of 4 MiB (the
;; whole of memory past the first page, all 'A's after a memory.fill), writes
;; a 4 MiB line without a newline and then a newline to stdout (fd_write), then
;; makes 1000 log calls of the 4-byte line "spam", and sends the text message
;; "done" back. The host must cut long lines and rate-limit the rest, counting
;; what it drops.
;;
;; Memory layout: 0x00 "done"; 0x10 "spam"; 0x20 "\n"; 0x40 iovec (ptr, len);
;; 0x50 nwritten; 0x10000..0x410000 the long line.
(module
  (import "wasmsock" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 65)
  (data (i32.const 0x00) "done")
  (data (i32.const 0x10) "spam")
  (data (i32.const 0x20) "\n")

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $i i32)
    (memory.fill (i32.const 0x10000) (i32.const 0x41) (i32.const 0x400000))
    ;; log(info, long line)
    (drop (call $log (i32.const 1) (i32.const 0x10000) (i32.const 0x400000)))
    ;; stdout: the long line, then a newline
    (i32.store (i32.const 0x40) (i32.const 0x10000))
    (i32.store (i32.const 0x44) (i32.const 0x400000))
    (drop (call $fd_write (i32.const 1) (i32.const 0x40) (i32.const 1) (i32.const 0x50)))
    (i32.store (i32.const 0x40) (i32.const 0x20))
    (i32.store (i32.const 0x44) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0x40) (i32.const 1) (i32.const 0x50)))
    (block $done
      (loop $spam
        (br_if $done (i32.ge_u (local.get $i) (i32.const 1000)))
        (drop (call $log (i32.const 1) (i32.const 0x10) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $spam)))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 4))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
