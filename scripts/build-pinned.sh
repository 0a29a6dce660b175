#!/usr/bin/env bash
# Builds the demo crate as an app that pins its own versions would: a copy of
# rust_example/ (the committed workspace is not touched) whose demo crate pins
# wasm-bindgen and rayon itself, so wbg-pool's version ranges must admit them.
# Prints the path of the built wbg_demo.wasm.
#
# The lock is rust_example/pinned/NAME.Cargo.lock when it is committed: built
# --locked, so an upstream release cannot change what `make test` builds without
# a commit. Without one (the newest releases, `make check-newest`) it is resolved now.
#
# Usage: scripts/build-pinned.sh NAME WASM_BINDGEN_REQ RAYON_REQ
#   e.g. scripts/build-pinned.sh wasm-bindgen-0.2.106 '=0.2.106' '=1.10.0'   (an SDK's exact pins)
#        scripts/build-pinned.sh newest '0.2' '1'                             (the newest releases)
# Work in build/pinned/NAME/ (a shared target dir, so std is built once).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ $# -eq 3 ] || { echo "usage: $0 NAME WASM_BINDGEN_REQ RAYON_REQ" >&2; exit 2; }
name=$1 wasm_bindgen=$2 rayon=$3
ws=build/pinned/$name
rm -rf "$ws" && mkdir -p "$ws"
(cd rust_example && tar --exclude=./target --exclude='./*/target' --exclude=./pinned -cf - .) | tar -xf - -C "$ws"
sed -i -e "s/^wasm-bindgen.workspace = true$/wasm-bindgen = \"$wasm_bindgen\"/" \
  -e "s/^rayon.workspace = true$/rayon = \"$rayon\"/" "$ws/demo/Cargo.toml"
grep -q "^wasm-bindgen = \"$wasm_bindgen\"$" "$ws/demo/Cargo.toml" && grep -q "^rayon = \"$rayon\"$" "$ws/demo/Cargo.toml" \
  || { echo "build-pinned: cannot pin the demo's dependencies in $ws/demo/Cargo.toml" >&2; exit 1; }
# The config in rust_example/.cargo/config.toml must win.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
committed=rust_example/pinned/$name.Cargo.lock
if [ -f "$committed" ]; then
  cp "$committed" "$ws/Cargo.lock"
  locked=--locked
else
  rm "$ws/Cargo.lock"
  (cd "$ws" && cargo +debian-web generate-lockfile --quiet)
  locked=
  echo "  $name: resolved now (no $committed)" >&2
fi
locked() { locked_version "$ws/Cargo.lock" "$1"; }
echo "  $name: wasm-bindgen $(locked wasm-bindgen), js-sys $(locked js-sys), rayon $(locked rayon), rayon-core $(locked rayon-core)" >&2
(cd "$ws" && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$PWD/../target" cargo +debian-web build --quiet --release $locked \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std -p wbg-demo) || {
  # --locked refuses a lock the workspace's manifests no longer fit (a dependency added to wbg-pool, say).
  [ -z "$locked" ] || echo "build-pinned: if cargo said the lock needs updating, $committed no longer fits the workspace:" \
    "delete it, run scripts/build-pinned.sh $name '$wasm_bindgen' '$rayon' and commit $ws/Cargo.lock as $committed" >&2
  exit 1
}
echo "build/pinned/target/wasm32-unknown-unknown/release/wbg_demo.wasm"
