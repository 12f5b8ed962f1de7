# The committed WebAssembly modules and how to rebuild them.
#
#   make wasm            rebuild every Go plugin and every WAT test fixture
#   make check-wasm      rebuild everything and fail if a .wasm differs from what git has
#   make generate        regenerate the ABI's bindings and tables from abi/abi.json
#   make check-generate  fail if a file generated from abi/abi.json differs from what git has
#
# The bytes depend on the Go toolchain (the version go.mod names) and on wabt's wat2wasm, so
# rebuild with those to get what is committed.

GO       ?= go
WAT2WASM ?= wat2wasm

# Go plugins: every plugins/NAME/ (and test plugin testdata/plugins/NAME/) with a main.go builds
# to NAME.wasm in that directory.
PLUGIN_DIRS := $(patsubst %/main.go,%,$(wildcard plugins/*/main.go testdata/plugins/*/main.go))
PLUGINS     := $(foreach d,$(PLUGIN_DIRS),$(d)/$(notdir $(d)).wasm)

# WAT test fixtures: every testdata/wat/NAME.wat builds to testdata/wasm/NAME.wasm.
FIXTURES := $(patsubst testdata/wat/%.wat,testdata/wasm/%.wasm,$(wildcard testdata/wat/*.wat))

# Each other-language SDK adds its example modules to SDK_WASM, with their rules, in
# sdk/LANG/wasm.mk.
SDK_WASM :=
include $(wildcard sdk/*/wasm.mk)

# A WASI reactor (_initialize instead of _start), built so that the same source always gives
# the same bytes: no file system paths, no VCS stamp, no build id.
GO_WASM_FLAGS := -buildmode=c-shared -trimpath -buildvcs=false -ldflags=-buildid=

.PHONY: wasm check-wasm generate check-generate FORCE

wasm: $(PLUGINS) $(FIXTURES) $(SDK_WASM)

# go build tracks a plugin's dependencies (the SDK, abi, go.mod) itself, so always run it; its
# build cache makes an unchanged plugin quick.
$(PLUGINS): FORCE
	GOOS=wasip1 GOARCH=wasm $(GO) build $(GO_WASM_FLAGS) -o $@ ./$(@D)

testdata/wasm/%.wasm: testdata/wat/%.wat
	@mkdir -p $(@D)
	$(WAT2WASM) -o $@ $<

# --always-make rebuilds fixtures too, whatever the files' timestamps say. A .wasm that git does
# not track yet counts as a difference.
check-wasm:
	$(MAKE) --always-make wasm
	git diff --exit-code --stat -- '*.wasm'
	@untracked="$$(git ls-files --others --exclude-standard -- '*.wasm')"; \
	if [ -n "$$untracked" ]; then echo "not committed:"; echo "$$untracked"; exit 1; fi

# The ABI table abi/abi.json is the one source of the ABI's names, signatures, statuses, limits
# and close-code rules; abi/internal/abigen writes them into abi/abi_gen.go, the SDKs' bindings
# and abi/ABI.md's tables (see abi/README.md).
generate:
	cd abi && $(GO) generate ./...

check-generate: generate
	git diff --exit-code --stat -- abi sdk
	@untracked="$$(git ls-files --others --exclude-standard -- abi sdk)"; \
	if [ -n "$$untracked" ]; then echo "not committed:"; echo "$$untracked"; exit 1; fi
