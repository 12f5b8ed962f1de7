#!/bin/sh
# wasm-toolchain.sh RUSTC...: picks the Rust toolchain that builds wasmsock plugins.
#
# For each compiler named (a path, or a command looked up in PATH), in order, it asks the
# compiler which WASI target it knows (`rustc --print target-list`): wasm32-wasip1 (Rust 1.78
# and later; current rustup toolchains know only this name) or wasm32-wasi (older toolchains,
# such as Debian's Rust 1.63). The first compiler that also has that target's standard library
# installed wins, and the script prints one line:
#
#   RUSTC CARGO TARGET
#
# RUSTC is the compiler's absolute path, CARGO the cargo next to it (or "cargo" from PATH) and
# TARGET the target's name, which is also the directory under target/ that cargo builds into.
# With no such compiler it prints why each one was passed over, with what to install, and exits 1.
#
# sdk/rust/wasm.mk (the repository's committed examples) and the Makefile of a project made by
# `wasmsock new --lang rust` both use it, so both accept the same toolchains.

set -u
why=""
for cand in "$@"; do
	rustc=$(command -v "$cand" 2>/dev/null) || {
		why="$why
  $cand: not found"
		continue
	}
	list=$("$rustc" --print target-list 2>/dev/null) || {
		why="$why
  $rustc: \`$rustc --print target-list\` failed"
		continue
	}
	sysroot=$("$rustc" --print sysroot 2>/dev/null) || sysroot=""
	version=$("$rustc" --version 2>/dev/null) || version="rustc"
	known="" first=""
	for target in wasm32-wasip1 wasm32-wasi; do
		printf '%s\n' "$list" | grep -qx "$target" || continue
		known="$known $target"
		[ -n "$first" ] || first=$target
		if [ -n "$sysroot" ] && [ -d "$sysroot/lib/rustlib/$target/lib" ]; then
			cargo="$(dirname "$rustc")/cargo"
			[ -x "$cargo" ] || cargo=cargo
			echo "$rustc $cargo $target"
			exit 0
		fi
	done
	if [ -z "$known" ]; then
		why="$why
  $rustc ($version): knows no WASI target (wasm32-wasip1 or wasm32-wasi)"
	else
		why="$why
  $rustc ($version): no standard library for${known} in $sysroot (rustup: \`rustup target add $first\`; Debian: \`apt-get install libstd-rust-dev-wasm32\`)"
	fi
done
echo "no Rust toolchain that can build a WASI plugin:$why" >&2
exit 1
