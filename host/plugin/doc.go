// Package plugin runs wasmsock plugins: WebAssembly modules that implement ABI v1 (abi/ABI.md).
//
// The lifecycle of a plugin, in one place:
//
//  1. Compile: the module is compiled once (through a compilation cache shared by every plugin)
//     and validated against the ABI: the marker export, every required export with its exact
//     signature, imports only from "wasmsock" and "wasi_snapshot_preview1". Every violation is
//     named in one error.
//  2. Instantiate: a pool of Instances (Options.Instances, default 1) is created, each in the
//     plugin's own wazero runtime (which carries the plugin's memory limit), with a WASI subset:
//     stdout and stderr go to the host log, clocks and random work, there is no filesystem, no
//     environment and no arguments. "_initialize" runs, then "on_start" with the plugin config.
//  3. Serve: a connection is pinned to one instance (by id), so its events arrive in order. Each
//     instance is owned by one goroutine, which takes events from a bounded mailbox and calls the
//     guest; calls into one instance are never concurrent.
//  4. Fault: a trap, a proc_exit or a call that exceeds CallTimeout ends the instance. The
//     connection being handled is closed with 1011, a fresh instance replaces the old one, and
//     every other connection of the old instance is replayed to it as on_connect(RESUMED). A
//     plugin that faults more than MaxCrashes times in CrashWindow is disabled: its connections
//     are closed with 1011 and Connect refuses new ones.
//  5. Close: instances are closed and their runtimes released.
package plugin
