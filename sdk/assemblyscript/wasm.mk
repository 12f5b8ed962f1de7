# The AssemblyScript SDK's example plugins, for the top-level Makefile (which includes this file
# and runs from the repository root):
#
#   sdk/assemblyscript/examples/NAME/main.ts  ->  sdk/assemblyscript/examples/NAME/NAME.wasm
#
# The compiler is the exact assemblyscript version package-lock.json pins, installed with
# "npm ci" into sdk/assemblyscript/node_modules when it is missing or older than the lock file.
# asc runs from sdk/assemblyscript with asconfig.json, so the same sources always give the same
# bytes: the output holds no path from this machine.
#
# Variables start with ASSDK_ so as not to clash with the other SDKs' wasm.mk files.

NPM ?= npm

ASSDK_DIR      := sdk/assemblyscript
ASSDK_EXAMPLES := $(patsubst %/main.ts,%,$(wildcard $(ASSDK_DIR)/examples/*/main.ts))
ASSDK_WASM     := $(foreach d,$(ASSDK_EXAMPLES),$(d)/$(notdir $(d)).wasm)
# What every example depends on besides its own sources: the SDK, the compiler options, and the
# compiler version.
ASSDK_COMMON   := $(wildcard $(ASSDK_DIR)/assembly/*.ts) $(ASSDK_DIR)/asconfig.json \
                  $(ASSDK_DIR)/package-lock.json

SDK_WASM += $(ASSDK_WASM)

# Installs the compiler when node_modules is missing or out of date. It is phony and only an
# order-only prerequisite: it runs before the examples build, once, and does not by itself make
# them out of date (package-lock.json does that).
.PHONY: assdk-deps
assdk-deps:
	@if [ ! -x $(ASSDK_DIR)/node_modules/.bin/asc ] || \
	    [ $(ASSDK_DIR)/package-lock.json -nt $(ASSDK_DIR)/node_modules/.package-lock.json ]; then \
		echo "$(NPM) ci --prefix $(ASSDK_DIR)"; \
		$(NPM) ci --prefix $(ASSDK_DIR) --no-audit --no-fund; \
	fi

# assdk_example_rule(dir): the rule for one example directory, relative to the repository root.
define assdk_example_rule
$(1)/$(notdir $(1)).wasm: $(wildcard $(1)/*.ts) $(ASSDK_COMMON) | assdk-deps
	cd $(ASSDK_DIR) && node_modules/.bin/asc $(patsubst $(ASSDK_DIR)/%,%,$(1))/main.ts \
		--config asconfig.json -o $(patsubst $(ASSDK_DIR)/%,%,$(1))/$(notdir $(1)).wasm
endef

$(foreach d,$(ASSDK_EXAMPLES),$(eval $(call assdk_example_rule,$(d))))
