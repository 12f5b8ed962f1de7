;; fanout.wat: a minimal broadcast plugin for wasmsock ABI v1, for broadcast benchmarks.
;;
;; Every connection joins the group "all" in on_connect (fresh or RESUMED: joining twice is
;; harmless). Every message is broadcast to "all" with the same kind, except to its sender.
;; on_close does nothing: the host removes a closing connection from its groups.
;;
;; Memory layout: the group name "all" at [0, 3); the message buffer starts at address 16 and
;; covers [16, 16 + len). Memory grows to fit the message.
(module
  ;; msg_read(dst, cap) -> copied bytes, 0 when all read, < 0 on error
  (import "wasmsock" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  ;; broadcast(group_ptr, group_len, kind, ptr, len, except_conn) -> members reached or < 0
  (import "wasmsock" "broadcast" (func $broadcast (param i32 i32 i32 i32 i32 i64) (result i32)))
  ;; join(conn, group_ptr, group_len) -> status
  (import "wasmsock" "join" (func $join (param i64 i32 i32) (result i32)))
  ;; close(conn, code, reason_ptr, reason_len) -> status
  (import "wasmsock" "close" (func $close (param i64 i32 i32 i32) (result i32)))

  ;; One page to start with; no maximum of our own (the host's memory_limit applies).
  (memory (export "memory") 1)

  ;; The group every connection is in.
  (data (i32.const 0) "all")
  (global $group_ptr i32 (i32.const 0))
  (global $group_len i32 (i32.const 3))
  (global $buf i32 (i32.const 16))

  ;; The ABI marker: no parameters, no results, does nothing.
  (func (export "wasmsock_abi_v1"))

  ;; Accept every connection and put it in "all".
  (func (export "on_connect") (param $conn i64) (param $flags i32) (result i32)
    (drop (call $join (local.get $conn) (global.get $group_ptr) (global.get $group_len)))
    (i32.const 0))

  ;; Make sure [0, end) is inside memory. Returns 1 on success, 0 when the memory cannot grow
  ;; that far (memory_limit reached).
  (func $fit (param $end i32) (result i32)
    (local $pages i32)
    ;; pages needed = ceil(end / 65536); end is at most 1 GiB + 16, so no overflow.
    (local.set $pages
      (i32.shr_u (i32.add (local.get $end) (i32.const 0xffff)) (i32.const 16)))
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
    (if (i32.eqz (call $fit (i32.add (global.get $buf) (local.get $len))))
      (then
        ;; Too big for this plugin's memory: close with 1009 (message too big), no reason.
        (drop (call $close (local.get $conn) (i32.const 1009) (i32.const 0) (i32.const 0)))
        (return)))
    ;; Pull the message into [buf, buf + len).
    (block $done
      (loop $read
        (br_if $done (i32.ge_u (local.get $off) (local.get $len)))
        (local.set $n
          (call $msg_read
            (i32.add (global.get $buf) (local.get $off))
            (i32.sub (local.get $len) (local.get $off))))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $off (i32.add (local.get $off) (local.get $n)))
        (br $read)))
    ;; Everyone in "all" but the sender gets it, with the same kind.
    (drop (call $broadcast
      (global.get $group_ptr) (global.get $group_len)
      (local.get $kind) (global.get $buf) (local.get $off)
      (local.get $conn))))

  ;; Nothing to clean up: the host takes the connection out of its groups.
  (func (export "on_close") (param $conn i64) (param $code i32) (param $reason_len i32))
)
