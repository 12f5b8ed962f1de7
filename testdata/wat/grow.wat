;; grow.wat: a plugin that runs into its memory_limit.
;;
;; On every message, on_message grows linear memory until memory.grow fails
;; for a single page, then sends the text message "grow failed" back. It asks
;; for 1024 pages (64 MiB) at a time and halves the step on each failure, so
;; it reaches the limit exactly in a few dozen memory.grow calls.
;; memory.grow failing is not a fault: the instance and the connection stay
;; up, and a second message gets "grow failed" again (at once, as memory is
;; already full). With memory_limit = L, memory ends at ceil(L / 64 KiB) pages.
;;
;; Tests should give it a small memory_limit (a few MiB): touching the default
;; 128 MiB for the first time can take longer than the default 1 s call_timeout
;; on a busy machine, and the test would then see a timeout instead.
;;
;; Memory layout: 0x00 "grow failed" (11 bytes).
(module
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  ;; No maximum of our own: the host's memory_limit is the only bound.
  (memory (export "memory") 1)
  (data (i32.const 0) "grow failed")

  (func (export "wasmsock_abi_v1"))

  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $step i32)
    (local.set $step (i32.const 1024))
    (block $full
      (loop $grow
        (if (i32.eq (memory.grow (local.get $step)) (i32.const -1))
          (then
            ;; A single page did not fit: memory is at the limit.
            (br_if $full (i32.eq (local.get $step) (i32.const 1)))
            (local.set $step (i32.shr_u (local.get $step) (i32.const 1)))))
        (br $grow)))
    ;; send(conn, text, "grow failed")
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 11))))

  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
