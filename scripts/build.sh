#!/usr/bin/env bash
# Builds the demo package: cargo (wasm32, atomics, build-std) -> wasm-bindgen
# --target nodejs -> wbg-patch. Output: build/pkg (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

wbg_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' rust_example/Cargo.lock)
wasm_bindgen=.tools/wasm-bindgen-$wbg_version/bin/wasm-bindgen
[ -x "$wasm_bindgen" ] || { echo "build: $wasm_bindgen is missing: run scripts/setup.sh (make setup)" >&2; exit 1; }

echo "==> cargo build (wasm32-unknown-unknown, release, atomics, build-std)"
(cd rust_example && RUSTC_BOOTSTRAP=1 cargo +debian-web build --quiet --release \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std -p wbg-demo)

echo "==> wasm-bindgen $wbg_version --target nodejs -> build/pkg"
rm -rf build/pkg.tmp
"$wasm_bindgen" --target nodejs --out-dir build/pkg.tmp rust_example/target/wasm32-unknown-unknown/release/wbg_demo.wasm
# The unpatched output is kept too: tests compare against it.
rm -rf build/pkg-unpatched && cp -r build/pkg.tmp build/pkg-unpatched
echo "==> wbg-patch patch build/pkg"
.venv/bin/wbg-patch patch build/pkg.tmp
# Swap in only a complete package, so a failed step never leaves a half-built one.
rm -rf build/pkg && mv build/pkg.tmp build/pkg
echo "==> built build/pkg"
