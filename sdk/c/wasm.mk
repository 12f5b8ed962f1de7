# The C SDK's example plugins, built by "make wasm" at the top of the repository (the top-level
# Makefile includes this file): sdk/c/examples/NAME/NAME.c, with the SDK's wasmsock.c, becomes
# sdk/c/examples/NAME/NAME.wasm, committed.
#
# Toolchain: Debian's clang with wasi-libc (apt-get install clang lld wasi-libc
# libclang-rt-14-dev-wasm32). A WASI reactor (-mexec-model=reactor: _initialize, no _start).
#
# Reproducible: no debug information (so no file system paths), only relative paths on the
# command line, DWARF sections of wasi-libc stripped at link time (the name section stays, for
# readable stack traces). The same toolchain gives the same bytes from any checkout path.

SDK_C_CC ?= clang
SDK_C_FLAGS := --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 -Wall -Wextra \
	-Isdk/c -Wl,--strip-debug

SDK_C_EXAMPLES := echo chat relay lobby
SDK_C_WASM := $(foreach e,$(SDK_C_EXAMPLES),sdk/c/examples/$(e)/$(e).wasm)
SDK_WASM += $(SDK_C_WASM)

$(SDK_C_WASM): sdk/c/examples/%.wasm: sdk/c/examples/%.c sdk/c/wasmsock.c sdk/c/wasmsock.h \
		$(wildcard sdk/c/examples/*/*.h) sdk/c/wasm.mk
	$(SDK_C_CC) $(SDK_C_FLAGS) -o $@ $< sdk/c/wasmsock.c
