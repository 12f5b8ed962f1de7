;; echo.wat: the reference echo plugin for wasmsock ABI v1, written by hand.
;;
;; Every message is sent back to the connection it came from, with the same
;; kind (text stays text, binary stays binary). Messages of any size the route
;; allows are handled: linear memory grows to fit the message.
;;
;; Memory layout: the message buffer starts at address 0 and covers
;; [0, len). The module keeps no other data, so the whole memory is the buffer.
(module
  ;; msg_read(dst, cap) -> copied bytes, 0 when all read, < 0 on error
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  ;; send(conn, kind, ptr, len) -> status
  (import "wasmsock" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  ;; close(conn, code, reason_ptr, reason_len) -> status
  (import "wasmsock" "close" (func $close (param i64 i32 i32 i32) (result i32)))

  ;; One page to start with; no maximum of our own (the host's memory_limit applies).
  (memory (export "memory") 1)

  ;; The ABI marker: no parameters, no results, does nothing.
  (func (export "wasmsock_abi_v1"))

  ;; Accept every connection, fresh or RESUMED.
  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (i32.const 0))

  ;; Make sure [0, len) is inside memory. Returns 1 on success, 0 when the
  ;; memory cannot grow that far (memory_limit reached).
  (func $fit (param $len i32) (result i32)
    (local $pages i32)
    ;; pages needed = ceil(len / 65536); len is at most 1 GiB, so no overflow.
    (local.set $pages
      (i32.shr_u (i32.add (local.get $len) (i32.const 0xffff)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (local.get $pages) (memory.size)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 1))

  (func (export "on_message") (param $conn i64) (param $kind i32) (param $len i32)
    (local $off i32)
    (local $n i32)
    (if (i32.eqz (call $fit (local.get $len)))
      (then
        ;; Too big for this plugin's memory: close with 1009 (message too big),
        ;; no reason.
        (drop (call $close (local.get $conn) (i32.const 1009) (i32.const 0) (i32.const 0)))
        (return)))
    ;; Pull the message into [0, len). One call is enough, but loop anyway:
    ;; msg_read returns how much it copied, 0 once everything is read.
    (block $done
      (loop $read
        (br_if $done (i32.ge_u (local.get $off) (local.get $len)))
        (local.set $n
          (call $msg_read (local.get $off) (i32.sub (local.get $len) (local.get $off))))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $off (i32.add (local.get $off) (local.get $n)))
        (br $read)))
    ;; Echo what was read, with the same kind. The host copies the bytes
    ;; before send returns, so the buffer is free again right after.
    (drop (call $send (local.get $conn) (local.get $kind) (i32.const 0) (local.get $off))))

  ;; Nothing to clean up.
  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
