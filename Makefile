# The two commands of the README: `make demo` and `make test`. Both set up and
# build what they need first; a second run skips what is already there.
.PHONY: setup build build-versions demo test test-rust lint test-js test-py check-newest fixtures bench wheel crate

# The demo packages scripts/build.sh writes, one per glue target, and its
# panic=unwind builds (CommonJS and ES-module glue): the runtime behaviour tests
# run against each.
PACKAGES = build/pkg build/pkg-experimental-nodejs-module build/pkg-module build/pkg-web \
  build/pkg-unwind build/pkg-unwind-module build/pkg-unwind-web
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

# The behaviour tests run a second time on these with every call inside execute() sent to the
# host (splitCalls: false; runtime_js/test/split-setting.mjs): the split must change no outcome.
SPLIT_OFF_PACKAGES = build/pkg build/pkg-unwind

# Extra flags for every `node --test` run, e.g. NODE_TEST_FLAGS=--test-concurrency=4
# (the suites' time bounds hold with files running side by side).
NODE_TEST_FLAGS =

# Every suite runs, also after one failed, so one run shows every failure (a
# failing package does not hide the others'); the target fails at the end.
test-js: build build-versions
	@failed=""; \
	run() { name=$$1; shift; echo "==> $$name"; "$$@" || failed="$$failed\n  $$name"; }; \
	run "runtime unit tests" node --test $(NODE_TEST_FLAGS) runtime_js/test/unit/*.test.cjs; \
	run "pool contract tests against build/pkg-{wasm-bindgen-rayon,poolbuilder-global,sdk-shaped}, abort and unwind builds" \
	  node --test $(NODE_TEST_FLAGS) runtime_js/test/contracts/*.test.mjs; \
	for browser in chromium firefox; do \
	  run "browser tests in headless $$browser against build/pkg-web, build/pkg-unwind-web, build/pkg-wasm-bindgen-rayon-web, build/pkg-poolbuilder-global-unwind-web and a Vite build" \
	    env WBG_BROWSER=$$browser node --test $(NODE_TEST_FLAGS) runtime_js/test/browser/*.test.mjs; \
	done; \
	for pkg in $(PACKAGES) $(VERSION_PACKAGES); do \
	  run "runtime behaviour tests against $$pkg" env WBG_PKG=$$pkg node --test $(NODE_TEST_FLAGS) runtime_js/test/*.test.mjs; \
	done; \
	for pkg in $(SPLIT_OFF_PACKAGES); do \
	  run "runtime behaviour tests against $$pkg, splitCalls: false" env WBG_PKG=$$pkg WBG_SPLIT_CALLS=off node --test $(NODE_TEST_FLAGS) runtime_js/test/*.test.mjs; \
	done; \
	[ -z "$$failed" ] || { printf 'test-js: failed:%b\n' "$$failed" >&2; exit 1; }

# Not part of `make test` (its pinned builds use committed locks, so only a commit
# changes what it tests): the demo against the newest wasm-bindgen 0.2 and rayon 1
# releases, resolved now, and the behaviour tests on it.
check-newest: setup
	@scripts/build.sh newest
	WBG_PKG=build/pkg-wasm-bindgen-newest node --test $(NODE_TEST_FLAGS) runtime_js/test/*.test.mjs

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test-py: build build-versions
	@.venv/bin/python -m pytest tests || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

# The wheel a user installs (`pip install dist/wbg_patch-*.whl`, see the README), built
# offline with .venv's setuptools. Its scratch tree goes to a temporary directory, not
# setuptools' default build/ (the fixtures' place), where files removed from the source
# would stay and ship in every later wheel. Prints the wheel's path; changes no PATH.
DIST = dist
wheel: setup
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	printf '[build]\nbuild_base = %s\n' "$$scratch" >"$$scratch/setup.cfg" && \
	DIST_EXTRA_CONFIG="$$scratch/setup.cfg" .venv/bin/python -m pip wheel --no-deps --no-build-isolation --no-index -w $(DIST) . >"$$scratch/log" 2>&1 \
	  || { cat "$$scratch/log" >&2; exit 1; }; \
	! grep -i warning "$$scratch/log" >&2 || { echo "wheel: the build warned (above)" >&2; exit 1; }; \
	ls $(DIST)/wbg_patch-$$(.venv/bin/python -c 'import wbg_patch; print(wbg_patch.__version__)')-py3-none-any.whl

# wbg-pool as crates.io would get it (a .crate: a gzipped tarball of the crate with its
# workspace keys resolved), for crates that vendor it instead of depending on this
# repository. Prints its path.
crate: setup
	@cd rust_example && cargo +debian-web package --quiet --allow-dirty --no-verify -p wbg-pool
	@version=$$(sed -n 's/^version = "\(.*\)"/\1/p' rust_example/pool/Cargo.toml | head -1) && \
	mkdir -p $(DIST) && cp rust_example/target/package/wbg-pool-$$version.crate $(DIST)/ && ls $(DIST)/wbg-pool-$$version.crate

fixtures: setup
	tests/fixtures/regenerate.sh

# Figures and ratios against the reference design and native Rayon, measured in one run.
bench: build
	cd rust_example && cargo +debian-web build --quiet --release -p wbg-demo --bin collatz_native
	node bench/run.cjs
