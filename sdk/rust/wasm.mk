# The Rust SDK's example plugins, built by "make wasm" at the top of the repository (the
# top-level Makefile includes this file). Each sdk/rust/examples/NAME/ is a crate of the
# workspace in sdk/rust/ whose cdylib becomes sdk/rust/examples/NAME/NAME.wasm, committed.
#
# Toolchain: Debian's Rust (apt-get install rustc cargo libstd-rust-dev-wasm32), named by path
# because a rustup toolchain earlier in PATH usually has no wasm32-wasi standard library. No
# crates.io dependencies: the build runs offline, with the committed Cargo.lock.
#
# Reproducible: every path rustc sees is relative to sdk/rust (one workspace; the standard
# library's paths are fixed by the Debian package), the profile in sdk/rust/Cargo.toml fixes the
# codegen (release, LTO, one codegen unit, no debug info, debug sections stripped), and the
# environment cannot add flags. The same toolchain gives the same bytes from any checkout path.

SDK_RUST_CARGO ?= /usr/bin/cargo
SDK_RUST_RUSTC ?= /usr/bin/rustc

SDK_RUST_EXAMPLES := echo chat
SDK_RUST_WASM := $(foreach e,$(SDK_RUST_EXAMPLES),sdk/rust/examples/$(e)/$(e).wasm)
SDK_WASM += $(SDK_RUST_WASM)

# Cargo's inputs from the environment, pinned: the compiler, no extra rustc flags (they would
# override the profile, and an empty CARGO_ENCODED_RUSTFLAGS also overrides any build.rustflags
# in a cargo config file), no wrapper, the build directory inside sdk/rust (gitignored).
SDK_RUST_ENV := RUSTC=$(SDK_RUST_RUSTC) CARGO_ENCODED_RUSTFLAGS= RUSTC_WRAPPER= \
	RUSTC_WORKSPACE_WRAPPER= CARGO_TARGET_DIR=target CARGO_INCREMENTAL=0 \
	CARGO_BUILD_TARGET=wasm32-wasi CARGO_PROFILE_RELEASE_DEBUG=0

# Cargo tracks the sources itself, so always run it; an unchanged example is quick.
$(SDK_RUST_WASM): FORCE
	cd sdk/rust && $(SDK_RUST_ENV) $(SDK_RUST_CARGO) build --quiet --release --locked --offline \
		--target wasm32-wasi -p wasmsock-example-$(notdir $(@D))
	cp sdk/rust/target/wasm32-wasi/release/$(notdir $(@D)).wasm $@
