# mcpgate: the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is what those two are made of.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
CONFIG     ?= examples/quickstart.yaml

.PHONY: all deps build run test unit e2e conformance asan fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

# Node 22, the modern SDK and the conformance CLIs: the modern fixture and the inspector CLI need them.
tests/conformance/node_modules/.package-lock.json: tests/conformance/package-lock.json
	cd tests/conformance && npm ci --no-audit --no-fund

run: build node_modules/.package-lock.json
	@BUILD=$(BUILD) CONFIG=$(CONFIG) scripts/run.sh

# Every test: unit tests, end-to-end tests with the official SDK and reference servers,
# the MCP conformance suite through the gateway, then unit and end-to-end tests again
# under AddressSanitizer and UndefinedBehaviorSanitizer, and a short run of each fuzzer.
test: build node_modules/.package-lock.json tests/conformance/node_modules/.package-lock.json
	scripts/test.sh

unit: build
	meson test -C $(BUILD) --print-errorlogs

e2e: build node_modules/.package-lock.json tests/conformance/node_modules/.package-lock.json
	MCPGATE_BIN=$(BUILD)/mcpgate node --test --test-concurrency=1 tests/e2e/

conformance: build
	scripts/conformance.sh $(BUILD)/mcpgate

asan: deps
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	meson compile -C $(ASAN_BUILD)

fuzz: deps
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true
	meson compile -C $(FUZZ_BUILD)

bench: deps
	bench/run.sh

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
