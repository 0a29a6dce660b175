#!/usr/bin/env bash
# Installs everything wbg-patch needs to build and test, from a fresh machine.
# Idempotent: each step checks first and says what it does or why it skips.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
case "${1:-}" in
  "" | versions) ;;
  *) echo "usage: $0 [versions]" >&2; exit 2 ;;
esac

step() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node is missing: install Node.js 20 or newer"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: wbg-patch needs 20 or newer"
command -v python3 >/dev/null || die "python3 is missing: install Python 3.10 or newer"
command -v rustup >/dev/null || die "rustup is missing: install it (https://rustup.rs) to link the Debian toolchain"

# Debian's rustc-web ships the std sources build-std needs; rust-lld comes from lld-22;
# chromium and firefox-esr run the browser tests (runtime_js/test/browser), as no
# driver can download its own browser here.
packages="rustc-web cargo-web rust-web-src lld-22 chromium firefox-esr"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || die "needs the Debian packages$missing, and apt-get is not here"
  step "installing Debian packages:$missing"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
else
  step "Debian packages present: $packages"
fi
[ -e /usr/bin/rust-lld ] || die "/usr/bin/rust-lld is missing or dangling: reinstall lld-22"
/usr/bin/chromium --version >/dev/null 2>&1 || die "/usr/bin/chromium does not run (/usr/bin/chromium --version fails): reinstall chromium"
/usr/bin/firefox-esr --version >/dev/null 2>&1 || die "/usr/bin/firefox-esr does not run (/usr/bin/firefox-esr --version fails): reinstall firefox-esr"

if rustup toolchain list | grep -q '^debian-web'; then
  step "rustup toolchain debian-web already linked"
else
  step "linking /usr as rustup toolchain debian-web"
  rustup toolchain link debian-web /usr
fi

install_cli() { # VERSION: wasm-bindgen-cli =VERSION into .tools/wasm-bindgen-VERSION (once)
  local tools=.tools/wasm-bindgen-$1
  if [ -x "$tools/bin/wasm-bindgen" ] && "$tools/bin/wasm-bindgen" --version | grep -q "$1"; then
    step "wasm-bindgen-cli $1 present in $tools"
  else
    step "installing wasm-bindgen-cli $1 into $tools (a few minutes, once)"
    cargo install --quiet wasm-bindgen-cli --version "=$1" --locked --root "$tools"
  fi
}

# The CLI must equal the wasm-bindgen crate in Cargo.lock, to the patch version.
wbg_version=$(locked_version rust_example/Cargo.lock wasm-bindgen)
[ -n "$wbg_version" ] || die "cannot read the wasm-bindgen version from rust_example/Cargo.lock"
install_cli "$wbg_version"
# `setup.sh versions`: the CLIs of the older generations the tests run (scripts/build.sh versions).
if [ "${1:-}" = versions ]; then
  install_cli 0.2.106
  install_cli 0.2.100
fi

# wasm-pack, for the "your own crate" flow test; it finds the CLI above on PATH.
wasm_pack_version=0.15.1
wasm_pack=.tools/wasm-pack-$wasm_pack_version
if [ -x "$wasm_pack/bin/wasm-pack" ]; then
  step "wasm-pack $wasm_pack_version present in $wasm_pack"
else
  step "installing wasm-pack $wasm_pack_version into $wasm_pack (a minute or two, once)"
  cargo install --quiet wasm-pack --version "=$wasm_pack_version" --locked --root "$wasm_pack"
fi

# ESLint, TypeScript (5.9 and 7), puppeteer-core (drives Chromium in the browser tests)
# and Vite (builds an app in them), pinned by package-lock.json.
node_stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
if [ -f "$node_stamp" ]; then
  step "Node dev tools (node_modules) up to date"
else
  step "installing the Node dev tools into node_modules (eslint, typescript, puppeteer-core, vite)"
  npm ci --silent --no-audit --no-fund
  touch "$node_stamp"
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ -f "$stamp" ]; then
  step "Python environment .venv up to date"
else
  step "creating the Python environment .venv (wbg-patch and its test dependencies)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  # An editable install always prints setuptools' notice about it (a dozen lines, no
  # fault); the wheel (make wheel) is where a packaging warning fails. Shown on failure.
  .venv/bin/pip install --quiet -e '.[test]' >.venv/install.log 2>&1 || { cat .venv/install.log >&2; die "installing wbg-patch into .venv failed"; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
step "setup done"
