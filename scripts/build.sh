#!/usr/bin/env bash
# Builds the demo packages: cargo (wasm32, atomics, build-std) -> wasm-bindgen
# -> wbg-patch. Output, ignored by git:
#   build/pkg                             --target nodejs (CommonJS): the demo, the bench, most tests
#   build/pkg-unpatched                   the same before wbg-patch, for comparisons (and build/pkg-web-unpatched)
#   build/pkg-<target>                    experimental-nodejs-module, module, web (ES modules):
#                                         the runtime tests run against each of them too
#   build/pkg-wasm-bindgen-rayon          rust_example/contracts/wasm-bindgen-rayon (--target nodejs):
#                                         a crate on wasm-bindgen-rayon, the pool contract tests use it
#   build/pkg-wasm-bindgen-rayon-web      the same crate, --target web, as a browser app ships it (and
#                                         build/pkg-wasm-bindgen-rayon-web-unpatched): the browser tests
#   build/pkg-sdk-shaped                  rust_example/contracts/sdk-shaped: a proof SDK's shape (its own
#                                         PoolBuilder-global contract on spmc, objects with caches)
# and the same built with panic=unwind (a panic rejects its call, the pool and memory stay):
#   build/pkg-unwind                      the demo, --target nodejs (build/pkg-unwind-unpatched before wbg-patch)
#   build/pkg-unwind-module               the demo, --target module (ES modules)
#   build/pkg-unwind-web                  the demo, --target web (the browser tests; Node's too)
#   build/pkg-wasm-bindgen-rayon-unwind   rust_example/contracts/wasm-bindgen-rayon
#   build/pkg-sdk-shaped-unwind           rust_example/contracts/sdk-shaped after the README's smallest
#                                         changes (its unwind.patch), in build/pinned/: as committed it
#                                         fails there with E0277, as the SDK it stands for did
#
# `scripts/build.sh versions` builds instead the demo as apps that pin their own
# versions would (scripts/build-pinned.sh), proving wbg-pool's version ranges
# and running the glue of older wasm-bindgen generations:
#   build/pkg-wasm-bindgen-0.2.106        an SDK's pins: wasm-bindgen =0.2.106, rayon =1.10.0
#   build/pkg-wasm-bindgen-0.2.100        the oldest the ranges admit: wasm-bindgen =0.2.100, rayon =1.8.0
#   build/pkg-poolbuilder-global          rust_example/contracts/poolbuilder-global, an SDK-like crate
#                                         with its own pool contract and pins (wasm-bindgen =0.2.106)
#   build/pkg-poolbuilder-global-unwind   the same built with panic=unwind, as an app that bumped its pins
#                                         to wasm-bindgen =0.2.129, js-sys =0.3.106 would (0.2.106 glue
#                                         cannot catch a panic at an export: it aborts), in build/pinned/
#   build/pkg-poolbuilder-global-unwind-web  the same as --target web glue, for the browser tests
# Their locks are committed (rust_example/pinned/): an upstream release changes nothing here.
#
# `scripts/build.sh newest` (make check-newest) builds the demo against the newest
# wasm-bindgen 0.2 and rayon 1 releases, resolved now:
#   build/pkg-wasm-bindgen-newest         with the wasm-bindgen CLI of the version resolved
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
case "${1:-}" in
  "" | versions | newest) ;;
  *) echo "usage: $0 [versions | newest]" >&2; exit 2 ;;
esac

# package TARGET OUT WASM CLI: wasm-bindgen --target TARGET, patched, swapped into
# OUT only when complete, so a failed step never leaves a half-built package.
package() {
  local target=$1 out=$2 wasm=$3 cli=$4
  echo "==> $("$cli" --version) --target $target, wbg-patch -> $out"
  rm -rf "$out.tmp"
  "$cli" --target "$target" --out-dir "$out.tmp" "$wasm"
  # An npm package of ES-module glue says so, as wasm-pack's do (experimental-nodejs-module
  # glue comes with one); without it Node guesses the format from the code, with a warning.
  [ -e "$out.tmp/package.json" ] || [ "$target" = nodejs ] || echo '{ "type": "module" }' >"$out.tmp/package.json"
  # Before wbg-patch, for comparisons: Node's (nodejs) and the browser's (web).
  case "$target" in nodejs | web) rm -rf "$out-unpatched" && cp -r "$out.tmp" "$out-unpatched" ;; esac
  .venv/bin/wbg-patch patch "$out.tmp" >/dev/null
  rm -rf "$out" && mv "$out.tmp" "$out"
}

locked_wasm_bindgen() { locked_version "$1" wasm-bindgen; }

# The panic=unwind builds share a target dir of their own: in the abort builds'
# dirs each mode would rebuild std and every crate whenever the other one ran.
unwind_target=$PWD/rust_example/target/unwind

# cargo_unwind DIR CARGO_ARGS...: cargo build in DIR with panic=unwind; prints
# where the .wasm files land. std must be rebuilt for it (build-std=panic_unwind),
# the profile's `panic = "abort"` of every workspace here must be overridden (it
# would win silently over the rustflag), and the workspace's own rustflags are
# kept: cargo merges a --config array with them.
cargo_unwind() {
  local dir=$1; shift
  echo "==> cargo build $dir with panic=unwind${*:+ $*}" >&2
  (cd "$dir" && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$unwind_target cargo +debian-web build --quiet --release \
    --target wasm32-unknown-unknown -Z build-std=panic_unwind,std --config 'profile.release.panic="unwind"' \
    --config 'target.wasm32-unknown-unknown.rustflags=["-C","panic=unwind"]' "$@") || exit 1 # see contract()
  echo "$unwind_target/wasm32-unknown-unknown/release"
}

# contract CRATE: builds rust_example/contracts/CRATE (a crate of its own, with
# its own lock) into the target dir the contract crates share; prints the .wasm.
# Run as $(contract …), where bash drops `set -e`: a failed build must exit itself,
# or the last good .wasm would be packaged as if it were this one.
contract() {
  echo "==> cargo build rust_example/contracts/$1 (a crate with its own pool contract)" >&2
  (cd "rust_example/contracts/$1" && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=../target cargo +debian-web build --quiet \
    --release --target wasm32-unknown-unknown -Z build-std=panic_abort,std) || exit 1
  echo "rust_example/contracts/target/wasm32-unknown-unknown/release/example_${1//-/_}.wasm"
}

# poolbuilder_unwind: rust_example/contracts/poolbuilder-global built with
# panic=unwind as an app that bumped its pins would, in a copy (the crate keeps
# its own) with the committed lock; prints the .wasm.
poolbuilder_unwind() {
  local ws=build/pinned/poolbuilder-global-unwind lock=rust_example/pinned/poolbuilder-global-unwind.Cargo.lock
  rm -rf "$ws" && mkdir -p "$ws"
  # -p keeps the sources' times: cargo rebuilds nothing that did not change.
  cp -rp rust_example/.cargo rust_example/contracts/poolbuilder-global/{Cargo.toml,src} "$ws"
  cp "$lock" "$ws/Cargo.lock"
  sed -i -e 's/^wasm-bindgen = "=0.2.106"$/wasm-bindgen = "=0.2.129"/' -e 's/^js-sys = "=0.3.83"$/js-sys = "=0.3.106"/' "$ws/Cargo.toml"
  local out
  out=$(cargo_unwind "$ws" --locked) || {
    echo "build: if cargo said the lock needs updating, $lock no longer fits the crate: build in $ws" \
      "without --locked and commit its Cargo.lock as $lock" >&2
    exit 1
  }
  echo "$out/example_poolbuilder_global.wasm"
}

# sdk_shaped_unwind: rust_example/contracts/sdk-shaped built with panic=unwind
# after the changes the README shows (unwind.patch, applied as its app would
# make them), in a copy: the crate stays as found, so that `wbg-patch doctor
# --check-unwind` and the tests see its E0277s. Prints the .wasm. (Run as
# $(sdk_shaped_unwind), without `set -e`: each step that fails exits.)
sdk_shaped_unwind() {
  local crate=rust_example/contracts/sdk-shaped ws=build/pinned/sdk-shaped-unwind
  rm -rf "$ws" && mkdir -p "$ws" && cp -rp rust_example/.cargo "$crate"/{Cargo.toml,Cargo.lock,src} "$ws" || exit 1
  # git apply, not patch(1): git is here anyway, patch is not on every machine.
  git apply --directory="$ws" "$crate/unwind.patch" || {
    echo "build: $crate/unwind.patch no longer applies to $crate/src: remake it (README \"Panics without a reset\")" >&2
    exit 1
  }
  local out
  out=$(cargo_unwind "$ws" --locked) || exit 1
  echo "$out/example_sdk_shaped.wasm"
}

# cli_of VERSION [HOW]: the wasm-bindgen CLI of VERSION; HOW installs it when missing.
cli_of() {
  local cli=.tools/wasm-bindgen-$1/bin/wasm-bindgen
  [ -x "$cli" ] || { echo "build: $cli is missing: ${2:-run scripts/setup.sh}" >&2; exit 1; }
  echo "$cli"
}

if [ "${1:-}" = versions ]; then
  for pins in "0.2.106 1.10.0" "0.2.100 1.8.0"; do
    set -- $pins
    echo "==> cargo build wbg-demo pinning wasm-bindgen =$1, rayon =$2 (in build/pinned/)"
    cli=$(cli_of "$1" "run scripts/setup.sh versions")
    wasm=$(scripts/build-pinned.sh "wasm-bindgen-$1" "=$1" "=$2")
    package nodejs "build/pkg-wasm-bindgen-$1" "$wasm" "$cli"
  done
  wasm=$(contract poolbuilder-global)
  cli=$(cli_of "$(locked_wasm_bindgen rust_example/contracts/poolbuilder-global/Cargo.lock)" "run scripts/setup.sh versions")
  package nodejs build/pkg-poolbuilder-global "$wasm" "$cli"
  wasm=$(poolbuilder_unwind)
  cli=$(cli_of "$(locked_wasm_bindgen rust_example/pinned/poolbuilder-global-unwind.Cargo.lock)")
  package nodejs build/pkg-poolbuilder-global-unwind "$wasm" "$cli"
  # The browser's: web glue needs wasm-bindgen 0.2.109 or newer (wbg-patch refuses 0.2.106's).
  package web build/pkg-poolbuilder-global-unwind-web "$wasm" "$cli"
  echo "==> built build/pkg-wasm-bindgen-{0.2.106,0.2.100} and build/pkg-poolbuilder-global{,-unwind,-unwind-web}"
  exit 0
fi

if [ "${1:-}" = newest ]; then
  echo "==> cargo build wbg-demo with the newest wasm-bindgen 0.2 and rayon 1, resolved now (in build/pinned/)"
  wasm=$(scripts/build-pinned.sh newest 0.2 1)
  newest=$(locked_wasm_bindgen build/pinned/newest/Cargo.lock)
  # setup.sh installs only the CLIs of committed locks; this one is as new as the registry.
  cli=$(cli_of "$newest" "install it with cargo install wasm-bindgen-cli --version =$newest --locked --root .tools/wasm-bindgen-$newest")
  package nodejs build/pkg-wasm-bindgen-newest "$wasm" "$cli"
  exit 0
fi

cli=$(cli_of "$(locked_wasm_bindgen rust_example/Cargo.lock)")

echo "==> cargo build (wasm32-unknown-unknown, release, atomics, build-std)"
(cd rust_example && RUSTC_BOOTSTRAP=1 cargo +debian-web build --quiet --release \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std -p wbg-demo)
wasm=rust_example/target/wasm32-unknown-unknown/release/wbg_demo.wasm

package nodejs build/pkg "$wasm" "$cli"
for target in experimental-nodejs-module module web; do
  package "$target" "build/pkg-$target" "$wasm" "$cli"
done
wasm=$(contract wasm-bindgen-rayon)
rayon_cli=$(cli_of "$(locked_wasm_bindgen rust_example/contracts/wasm-bindgen-rayon/Cargo.lock)")
package nodejs build/pkg-wasm-bindgen-rayon "$wasm" "$rayon_cli"
package web build/pkg-wasm-bindgen-rayon-web "$wasm" "$rayon_cli"
wasm=$(contract sdk-shaped)
sdk_cli=$(cli_of "$(locked_wasm_bindgen rust_example/contracts/sdk-shaped/Cargo.lock)")
package nodejs build/pkg-sdk-shaped "$wasm" "$sdk_cli"

wasm=$(cargo_unwind rust_example -p wbg-demo)/wbg_demo.wasm
package nodejs build/pkg-unwind "$wasm" "$cli"
package module build/pkg-unwind-module "$wasm" "$cli"
package web build/pkg-unwind-web "$wasm" "$cli"
wasm=$(cargo_unwind rust_example/contracts/wasm-bindgen-rayon)/example_wasm_bindgen_rayon.wasm
package nodejs build/pkg-wasm-bindgen-rayon-unwind "$wasm" "$rayon_cli"
wasm=$(sdk_shaped_unwind)
package nodejs build/pkg-sdk-shaped-unwind "$wasm" "$sdk_cli"
echo "==> built build/pkg, build/pkg-{experimental-nodejs-module,module,web}, build/pkg-{wasm-bindgen-rayon,wasm-bindgen-rayon-web,sdk-shaped}" \
  "and build/pkg-{unwind,unwind-module,unwind-web,wasm-bindgen-rayon-unwind,sdk-shaped-unwind}"
