# The two commands of the README: `make demo` and `make test`. Both set up and
# build what they need first; a second run skips what is already there.
.PHONY: setup build demo test test-rust test-js test-py fixtures bench

setup:
	@scripts/setup.sh

build: setup
	@scripts/build.sh

demo: build
	@node rust_example/demo/js/demo.cjs $(ARGS)

test: build test-rust test-js test-py

test-rust: setup
	cd rust_example && cargo +debian-web test -p wbg-pool

test-js: build
	node --test runtime_js/test/*.test.cjs

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test-py: build
	@.venv/bin/python -m pytest tests || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

fixtures: setup
	tests/fixtures/regenerate.sh

# Figures and ratios against the reference design and native Rayon, measured in one run.
bench: build
	cd rust_example && cargo +debian-web build --quiet --release -p wbg-demo --bin collatz_native
	node bench/run.cjs
