#!/usr/bin/env bash
# Builds the demo packages: cargo (wasm32, atomics, build-std) -> wasm-bindgen
# -> wbg-patch. Output, ignored by git:
#   build/pkg                             --target nodejs (CommonJS): the demo, the bench, most tests
#   build/pkg-unpatched                   the same before wbg-patch, for comparisons
#   build/pkg-<target>                    experimental-nodejs-module, module, web (ES modules):
#                                         the runtime tests run against each of them too
#   build/pkg-wasm-bindgen-rayon          the crates of rust_example/contracts (--target nodejs),
#   build/pkg-poolbuilder-global          which carry the other two pool contracts
set -euo pipefail
cd "$(dirname "$0")/.."

wbg_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' rust_example/Cargo.lock)
wasm_bindgen=.tools/wasm-bindgen-$wbg_version/bin/wasm-bindgen
[ -x "$wasm_bindgen" ] || { echo "build: $wasm_bindgen is missing: run scripts/setup.sh (make setup)" >&2; exit 1; }

echo "==> cargo build (wasm32-unknown-unknown, release, atomics, build-std)"
(cd rust_example && RUSTC_BOOTSTRAP=1 cargo +debian-web build --quiet --release \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std -p wbg-demo)
wasm=rust_example/target/wasm32-unknown-unknown/release/wbg_demo.wasm

echo "==> cargo build rust_example/contracts (the crates with their own pool contracts)"
(cd rust_example/contracts && RUSTC_BOOTSTRAP=1 cargo +debian-web build --quiet --release \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std)
contracts=rust_example/contracts/target/wasm32-unknown-unknown/release

# package TARGET OUT [WASM]: wasm-bindgen --target TARGET, patched, swapped into
# OUT only when complete, so a failed step never leaves a half-built package.
package() {
  local target=$1 out=$2 wasm=${3:-$wasm}
  echo "==> wasm-bindgen $wbg_version --target $target, wbg-patch -> $out"
  rm -rf "$out.tmp"
  "$wasm_bindgen" --target "$target" --out-dir "$out.tmp" "$wasm"
  if [ "$target" = nodejs ]; then rm -rf "$out-unpatched" && cp -r "$out.tmp" "$out-unpatched"; fi
  # An npm package of ES-module glue says so, as wasm-pack's do (experimental-nodejs-module
  # glue comes with one); without it Node guesses the format from the code, with a warning.
  [ -e "$out.tmp/package.json" ] || [ "$target" = nodejs ] || echo '{ "type": "module" }' >"$out.tmp/package.json"
  .venv/bin/wbg-patch patch "$out.tmp" >/dev/null
  rm -rf "$out" && mv "$out.tmp" "$out"
}
package nodejs build/pkg
for target in experimental-nodejs-module module web; do
  package "$target" "build/pkg-$target"
done
for contract in wasm-bindgen-rayon poolbuilder-global; do
  package nodejs "build/pkg-$contract" "$contracts/example_${contract//-/_}.wasm"
done
echo "==> built build/pkg, build/pkg-{experimental-nodejs-module,module,web} and build/pkg-{wasm-bindgen-rayon,poolbuilder-global}"
