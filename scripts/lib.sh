# Shell helpers shared by the project's scripts (sourced, not run).

# locked_version LOCKFILE CRATE: the version of CRATE that a Cargo.lock holds
# (empty when it holds none). The wasm-bindgen CLI must equal the locked
# wasm-bindgen exactly, so every script that picks a CLI reads it here.
locked_version() {
  awk -v crate="$2" '$0 == "name = \"" crate "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$1"
}
