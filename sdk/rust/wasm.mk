# The Rust SDK's example plugins, built by "make wasm" at the top of the repository (the
# top-level Makefile includes this file). Each sdk/rust/examples/NAME/ is a crate of the
# workspace in sdk/rust/ whose cdylib becomes sdk/rust/examples/NAME/NAME.wasm, committed.
#
# Toolchain: the committed bytes come from Debian's Rust 1.63 (apt-get install rustc cargo
# libstd-rust-dev-wasm32), named by path so that a rustup toolchain earlier in PATH does not
# change them: CI rebuilds every committed .wasm with it and fails on a difference. Another
# compiler builds the examples too (make wasm SDK_RUST_RUSTC=rustc), but to other bytes.
# sdk/rust/wasm-toolchain.sh checks that the compiler has a WASI standard library and names
# the target: wasm32-wasi for Rust before 1.78, wasm32-wasip1 (the only name current rustup
# toolchains know) after; cargo is the one next to the compiler. No crates.io dependencies: the
# build runs offline, with the committed Cargo.lock.
#
# Reproducible: every path rustc sees is relative to sdk/rust (one workspace; the standard
# library's paths are fixed by the Debian package), the profile in sdk/rust/Cargo.toml fixes the
# codegen (release, LTO, one codegen unit, no debug info, debug sections stripped), and the
# environment cannot add flags. The same toolchain gives the same bytes from any checkout path.

SDK_RUST_RUSTC ?= /usr/bin/rustc

SDK_RUST_EXAMPLES := echo chat relay lobby
SDK_RUST_WASM := $(foreach e,$(SDK_RUST_EXAMPLES),sdk/rust/examples/$(e)/$(e).wasm)
SDK_WASM += $(SDK_RUST_WASM)

# Cargo's inputs from the environment, pinned: no extra rustc flags (they would override the
# profile, and an empty CARGO_ENCODED_RUSTFLAGS also overrides any build.rustflags in a cargo
# config file), no wrapper, the build directory inside sdk/rust (gitignored). The compiler and
# the target come from wasm-toolchain.sh, in the recipe.
SDK_RUST_ENV := CARGO_ENCODED_RUSTFLAGS= RUSTC_WRAPPER= RUSTC_WORKSPACE_WRAPPER= \
	CARGO_TARGET_DIR=target CARGO_INCREMENTAL=0 CARGO_PROFILE_RELEASE_DEBUG=0

# Cargo tracks the sources itself, so always run it; an unchanged example is quick.
$(SDK_RUST_WASM): FORCE
	@toolchain=$$(sh sdk/rust/wasm-toolchain.sh $(SDK_RUST_RUSTC)) || exit 1; \
	set -- $$toolchain; \
	echo "cargo build -p wasmsock-example-$(notdir $(@D)) (rustc $$1, target $$3)"; \
	cd sdk/rust && env $(SDK_RUST_ENV) RUSTC=$$1 CARGO_BUILD_TARGET=$$3 $$2 build --quiet --release \
		--locked --offline --target $$3 -p wasmsock-example-$(notdir $(@D)) && \
	cp target/$$3/release/$(notdir $(@D)).wasm ../../$@
