#!/usr/bin/env bash
# Builds the demo crate as an app that pins its own versions would: a copy of
# rust_example/ (the committed workspace is not touched) whose demo crate pins
# wasm-bindgen and rayon itself, resolved afresh, so wbg-pool's version ranges
# must admit them. Prints the path of the built wbg_demo.wasm.
#
# Usage: scripts/build-pinned.sh NAME WASM_BINDGEN_REQ RAYON_REQ
#   e.g. scripts/build-pinned.sh sdk '=0.2.106' '=1.10.0'   (an SDK's exact pins)
#        scripts/build-pinned.sh newest '0.2' '1'            (the newest releases)
# Work in build/pinned/NAME/ (a shared target dir, so std is built once).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ $# -eq 3 ] || { echo "usage: $0 NAME WASM_BINDGEN_REQ RAYON_REQ" >&2; exit 2; }
name=$1 wasm_bindgen=$2 rayon=$3
ws=build/pinned/$name
rm -rf "$ws" && mkdir -p "$ws"
(cd rust_example && tar --exclude=./target --exclude='./*/target' -cf - .) | tar -xf - -C "$ws"
sed -i -e "s/^wasm-bindgen.workspace = true$/wasm-bindgen = \"$wasm_bindgen\"/" \
  -e "s/^rayon.workspace = true$/rayon = \"$rayon\"/" "$ws/demo/Cargo.toml"
grep -q "^wasm-bindgen = \"$wasm_bindgen\"$" "$ws/demo/Cargo.toml" && grep -q "^rayon = \"$rayon\"$" "$ws/demo/Cargo.toml" \
  || { echo "build-pinned: cannot pin the demo's dependencies in $ws/demo/Cargo.toml" >&2; exit 1; }
rm "$ws/Cargo.lock"
# The config in rust_example/.cargo/config.toml must win.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
(cd "$ws" && cargo +debian-web generate-lockfile --quiet)
locked() { locked_version "$ws/Cargo.lock" "$1"; }
echo "  $name: wasm-bindgen $(locked wasm-bindgen), js-sys $(locked js-sys), rayon $(locked rayon), rayon-core $(locked rayon-core)" >&2
(cd "$ws" && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$PWD/../target" cargo +debian-web build --quiet --release \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std -p wbg-demo)
echo "build/pinned/target/wasm32-unknown-unknown/release/wbg_demo.wasm"
