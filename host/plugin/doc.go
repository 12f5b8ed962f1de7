// Package plugin runs wasmsock plugins: WebAssembly modules that implement ABI v1 (abi/ABI.md).
//
// The lifecycle of a plugin, in one place:
//
//  1. Compile: the module is compiled once (through a compilation cache shared by every plugin)
//     and validated against the ABI: the marker export, every required export with its exact
//     signature, imports only from "wasmsock" and "wasi_snapshot_preview1". Every violation is
//     named in one error. A cache on disk (OpenCache) is checked: each entry is sealed with a
//     SHA-256 of the host's, and an entry that is truncated, corrupted, empty or unsealed is
//     removed with a warning and the module compiled again; a load never fails on the cache.
//  2. Instantiate: a pool of Instances (Options.Instances, default 1) is created, each in the
//     plugin's own wazero runtime (which carries the plugin's memory limit), with a WASI subset:
//     stdout and stderr go to the host log, clocks and random work, there is no filesystem, no
//     environment and no arguments. "_initialize" runs, then "on_start" with the plugin config.
//  3. Serve: a connection is pinned to one instance (by id), so its events arrive in order, and
//     calls into one instance are never concurrent. Events reach an instance through its
//     mailbox:
//     - Connect, Message and Closed deliver an event. When the instance is idle and its mailbox
//     empty, the guest runs at once on the caller's goroutine (the connection's reader: no
//     goroutine hand-off, the common case); else the event is queued for the instance's
//     worker goroutine, which runs queued events in order. A message delivered by its
//     connection's reader (MessageFrom) and run on the reader's goroutine sends its replies to
//     that connection through the reader (Caller.Reply), which writes them once the call has
//     returned.
//     - The mailbox is bounded in events (Options.Mailbox) and in payload bytes
//     (Options.MailboxBytes; one event always fits an empty mailbox). Message and Closed wait
//     while it is full: the reader stops reading and TCP pushes back on the client, so a
//     stalled guest costs bounded memory however fast clients send.
//     - Offer is the non-blocking form of Message, for a caller that must never wait (an epoll
//     worker serving many connections): it queues the message and returns true, or returns
//     false when the mailbox is full and later calls the given ready function once, from
//     another goroutine, when space has freed; the caller stops reading that connection until
//     then and offers the same message again. Offer never runs the guest on the caller.
//     A call that runs longer than CallTimeout is interrupted by the plugin's watchdog; so is a
//     guest sleeping in WASI (poll_oneoff on a clock): the sleep ends with the call, and any
//     host function the interrupted guest calls ends it at once.
//  4. Fault: a trap, a proc_exit or a call that exceeds CallTimeout costs the connection whose
//     event was running: it is closed with 1011, a fresh guest replaces the old one, and every
//     other connection of the instance is replayed to it as on_connect(RESUMED). Such a fault
//     does not count against the crash budget, so one client cannot take a plugin down for
//     everyone. Failing to bring the instance back does: a guest that does not boot, or a
//     replay that faults. More than MaxCrashes of those within CrashWindow is a crash loop: the
//     plugin closes its connections with 1011, refuses new ones (Disabled, BackoffUntil; the
//     server answers 503 and /readyz says why), waits CrashBackoff and boots again by itself;
//     each loop that follows soon after doubles the wait, up to CrashBackoffMax. A reload with a
//     module that works ends the backoff at once.
//  5. Recycle: linear memory never shrinks. With MemoryRecycle set, an instance whose memory has
//     grown past it is replaced between two events by a fresh guest, its connections replayed
//     as RESUMED (as a reload does).
//  6. Reload: a new module is compiled and booted off the hot path, then each instance switches
//     to it between two events and replays its connections; the old module's compiled code is
//     released once no instance runs it.
//  7. Close and Shutdown: instances handle what is queued, then stop; the watchdog runs until
//     they have, so a drain's on_close calls are still bounded by CallTimeout. Shutdown's context
//     bounds it all: when it is done, queued events are dropped (connects refused, closes
//     released), running calls and boots are interrupted, and Shutdown reports what it cut.
//
// The guest's log lines (the log host function, stdout, stderr) are cut at LogLineBytes and
// limited per plugin to LogLinesPerSecond; dropped lines are counted (Stats.LogDropped) and the
// count logged with the next line that passes.
package plugin
