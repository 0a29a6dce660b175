# The two commands of the README: `make demo` and `make test`. Both set up and
# build what they need first; a second run skips what is already there.
.PHONY: setup build build-versions demo test test-rust lint test-js test-py fixtures bench

# The demo packages scripts/build.sh writes, one per glue target: the runtime
# behaviour tests run against each.
PACKAGES = build/pkg build/pkg-experimental-nodejs-module build/pkg-module build/pkg-web
# The demo as apps pinning older wasm-bindgen (and rayon) build it: the same tests run there.
VERSION_PACKAGES = build/pkg-wasm-bindgen-0.2.106 build/pkg-wasm-bindgen-0.2.100

setup:
	@scripts/setup.sh

build: setup
	@scripts/build.sh

build-versions: setup
	@scripts/setup.sh versions
	@scripts/build.sh versions

demo: build
	@node rust_example/demo/js/demo.cjs $(ARGS)

test: build build-versions test-rust lint test-js test-py

# wbg-pool's host tests, and its crates.io package (built and verified on its own).
test-rust: setup
	cd rust_example && cargo +debian-web test --quiet -p wbg-pool
	cd rust_example && cargo +debian-web publish --quiet --dry-run --allow-dirty -p wbg-pool

# The runtime as it ships, its tests, and the entry files the templates rendered;
# the patcher and its tests.
lint: build
	.venv/bin/python -m pyflakes wbg_patch tests bench
	node_modules/.bin/eslint runtime_js bench rust_example/demo/js eslint.config.cjs $(foreach p,$(PACKAGES),$(wildcard $(p)/wbg-pool-manager.*js))

test-js: build build-versions
	node --test runtime_js/test/unit/*.test.cjs
	@echo "==> pool contract tests against build/pkg-wasm-bindgen-rayon and build/pkg-poolbuilder-global"
	node --test runtime_js/test/contracts/*.test.mjs
	@for pkg in $(PACKAGES) $(VERSION_PACKAGES); do \
	  echo "==> runtime behaviour tests against $$pkg"; \
	  WBG_PKG=$$pkg node --test runtime_js/test/*.test.mjs || exit 1; \
	done

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test-py: build build-versions
	@.venv/bin/python -m pytest tests || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

fixtures: setup
	tests/fixtures/regenerate.sh

# Figures and ratios against the reference design and native Rayon, measured in one run.
bench: build
	cd rust_example && cargo +debian-web build --quiet --release -p wbg-demo --bin collatz_native
	node bench/run.cjs
