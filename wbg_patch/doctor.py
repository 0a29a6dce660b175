"""`wbg-patch doctor`: reads a crate's setup, as cargo, wasm-pack and Node will
see it, and says check by check what a build would get and the exact fix.

It builds nothing and uses no network: it reads Cargo.toml, Cargo.lock, cargo's
configuration as cargo resolves it (wbg_patch/cargo/: its files, `--config` and
the environment, each value with its source) and the sources, and asks the tools
on PATH their versions (and the toolchain's rustc the target's cfg, as cargo
does, when a `[target.'cfg(…)']` table has rustflags). Every check is a function
returning one Finding; the CLI prints them and exits non-zero when a build would
fail or silently degrade (a CLI that does not match the lock makes wasm-pack
compile its own for 15+ minutes without a word; a missing link arg gives a module
without threads; a parallel job outside `run_in_pool` runs on one thread).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import locate, panics, parse, pipeline
from .cargo.config import (
    CLI, ENV, TARGET_TABLE, TOOLCHAIN, TRIPLE, CargoConfig, Flag, Rustflags, Setting, read_toml, release_panic, rustc_cfg, rustflags_in_effect,
    workspace_root,
)
from .errors import InputError, PatchError
from .wasm import read_module

OK, WARN, ERROR = "ok", "warn", "error"
# What threads need (README "Your own crate", step 2): the target features, and since
# rust-lang/rust#147225 a shared imported memory and the TLS exports wasm-bindgen's thread
# transform uses. --max-memory stands for any value: the crate decides how much.
FEATURES = ("+atomics", "+bulk-memory", "+mutable-globals")
LINK_ARGS = ("--shared-memory", "--import-memory", "--max-memory") + tuple(
    f"--export={name}" for name in ("__wasm_init_tls", "__tls_size", "__tls_align", "__tls_base")
)
MAX_MEMORY = 1 << 30  # the value a fix suggests: rust_example's; up to 4 GiB is allowed
MIN_NODE = 20
# Rayon's parallel entry points: the `par_*` methods of its traits, and its free functions.
PARALLEL = re.compile(
    r"\brayon::(join|join_context|scope|scope_fifo|in_place_scope|spawn|spawn_fifo|broadcast)\b"
    r"|(^|[^\w.:])(join|scope|in_place_scope)\s*\(|\.(into_)?par_\w+\s*\("
)
# Comments, and (for the scan of calls) string and char literals: what cannot call anything.
COMMENT = r"//[^\n]*|/\*.*?\*/"
LITERAL = r"\br(#*)\".*?\"\1|b?\"(\\.|[^\"\\])*\"|b?'(\\.|[^\\'\n])'"


@dataclass(frozen=True)
class Finding:
    level: str  # OK, WARN (harmless) or ERROR (a build would fail or silently degrade)
    check: str
    message: str
    details: tuple[str, ...] = ()  # where things come from, and the fix


def _tool(*args: str) -> tuple[str, str] | None:
    """(where the tool is, what it printed) for a tool on PATH that ran, else None."""
    where = shutil.which(args[0])
    if where is None:
        return None
    try:
        done = subprocess.run([where, *args[1:]], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (where, done.stdout.strip()) if done.returncode == 0 else None


def _version(text: str) -> str:
    found = re.search(r"\d+\.\d+\.\d+", text)
    return found.group(0) if found else text


@dataclass
class Crate:
    directory: Path
    manifest: dict
    root: Path  # the workspace root: where Cargo.lock and the profiles that count live
    root_manifest: dict

    @classmethod
    def read(cls, directory: Path) -> Crate:
        manifest = read_toml(directory / "Cargo.toml")
        if "package" not in manifest:
            raise InputError("is a workspace root (no [package]): run `wbg-patch doctor` on the member that builds the .wasm", directory)
        root = workspace_root(directory, manifest)
        return cls(directory, manifest, root, manifest if root == directory else read_toml(root / "Cargo.toml"))

    def dependencies(self) -> dict[str, object]:
        """Every dependency by its package name (a renamed one too), target-specific ones included."""
        tables = [self.manifest.get("dependencies", {})] + [t.get("dependencies", {}) for t in self.manifest.get("target", {}).values()]
        return {spec.get("package", key) if isinstance(spec, dict) else key: spec for table in tables for key, spec in table.items()}

    def requirement(self, name: str) -> str | None:
        spec = self.dependencies().get(name)
        if isinstance(spec, dict) and spec.get("workspace"):
            spec = self.root_manifest.get("workspace", {}).get("dependencies", {}).get(name)
        return spec.get("version") if isinstance(spec, dict) else spec

    def locked(self, name: str) -> list[str]:
        lock = self.root / "Cargo.lock"
        packages = read_toml(lock).get("package", []) if lock.is_file() else []
        return [p["version"] for p in packages if p.get("name") == name]

    def shown(self, path: Path | str) -> str:
        """A path as the user reads it: relative to the crate when inside it."""
        path = Path(path)
        return str(path.relative_to(self.directory)) if path.is_relative_to(self.directory) else str(path)

    def sources(self, literals: bool) -> list[tuple[Path, str]]:
        """Each src/**/*.rs without its comments (and without string and char literals
        unless `literals`), newlines kept, so that positions still give line numbers."""
        noise = re.compile(COMMENT if literals else f"{COMMENT}|{LITERAL}", re.S)
        return [(p, noise.sub(_blank, p.read_text(errors="replace"))) for p in sorted((self.directory / "src").rglob("*.rs"))]


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def check_wasm_bindgen(crate: Crate) -> Finding:
    """The crate's wasm-bindgen and the CLI on PATH must be the same version: the
    CLI refuses a .wasm of another, and wasm-pack, seeing none that matches,
    fetches or compiles its own."""
    locked, requirement = crate.locked("wasm-bindgen"), crate.requirement("wasm-bindgen")
    cli = _tool("wasm-bindgen", "--version")
    have = _version(cli[1]) if cli else None
    if locked:
        several = f"{', '.join(locked)} (several; the CLI serves one)" if len(locked) > 1 else locked[0]
        want, said = locked[-1], f"{several} in {crate.shown(crate.root / 'Cargo.lock')}"
    elif requirement is not None and requirement.startswith("="):
        want, said = requirement.lstrip("= "), f'"{requirement}" in Cargo.toml (no Cargo.lock yet)'
    elif requirement is not None:
        return Finding(ERROR, "wasm-bindgen", f'"{requirement}" in Cargo.toml and no Cargo.lock: the first build (or `cargo update`) locks the newest '
                       f"release it admits, which need not be the CLI's {have or '(none on PATH)'}",
                       (f'fix: pin it in Cargo.toml: wasm-bindgen = "={have or "X"}" (the lock and the CLI must match)',))
    else:
        return Finding(ERROR, "wasm-bindgen", "not a dependency of the crate", ('fix: add to [dependencies]: wasm-bindgen = "=X" (X: your CLI\'s version)',))
    wasm_pack = _tool("wasm-pack", "--version")
    slow = f"otherwise wasm-pack{' ' + _version(wasm_pack[1]) if wasm_pack else ''} fetches or compiles its own: 15+ minutes, without a word"
    install = f"fix: cargo install wasm-bindgen-cli --version ={want} --locked   ({slow})"
    pin = () if requirement is None or requirement.startswith("=") else (
        f'pin it: wasm-bindgen = "={want}" in Cargo.toml, not "{requirement}": `cargo update` or a fresh lock would move it past the CLI',)
    if have is None:
        return Finding(ERROR, "wasm-bindgen", f"{said}, and no `wasm-bindgen` CLI on PATH", (install, *pin))
    if have != want:
        return Finding(ERROR, "wasm-bindgen", f"{said}, but the CLI on PATH is {have} ({cli[0]})", (install, *pin))
    return Finding(WARN if pin else OK, "wasm-bindgen", f"{said} = the CLI on PATH ({cli[0]})", pin)


def codegen_options(flags: list[Flag]) -> list[tuple[str, str, Flag]]:
    """(name, value, flag) of every `-C name=value`, however it is spelled
    (`-C x`, `-Cx`, `--codegen x`, `--codegen=x`), in order."""
    out = []
    separate = False
    for flag in flags:
        if flag.text in ("-C", "--codegen"):
            separate = True
            continue
        option = flag.text if separate else flag.text.removeprefix("--codegen=") if flag.text.startswith("--codegen=") else (
            flag.text[2:] if flag.text.startswith("-C") else None)
        separate = False
        if option is not None:
            name, _, value = option.partition("=")
            out.append((name, value, flag))
    return out


def thread_flags(options: list[tuple[str, str, Flag]]) -> dict[str, tuple[str, Flag]]:
    """Each required thread flag in effect (FEATURES, LINK_ARGS) → (as written, its flag)."""
    found: dict[str, tuple[str, Flag]] = {}
    for name, value, flag in options:
        if name == "target-feature":
            for feature in value.split(","):
                found.pop("+" + feature[1:], None)
                if feature in FEATURES:
                    found[feature] = (feature, flag)
        elif name in ("link-arg", "link-args"):
            for arg in value.split() if name == "link-args" else [value]:
                found[arg.partition("=")[0] if arg.startswith("--max-memory") else arg] = (arg, flag)
    return found


def _fix_lines(missing: list[str], env_name: str | None) -> list[str]:
    features = [f for f in missing if f in FEATURES]
    args = [a if a != "--max-memory" else f"--max-memory={MAX_MEMORY}" for a in missing if a not in FEATURES]
    options = ([f"target-feature={','.join(features)}"] if features else []) + [f"link-args={a}" for a in args]
    if env_name is not None:
        # Cargo splits CARGO_ENCODED_RUSTFLAGS at the unit separator, and nowhere else.
        return [("\\x1f" if env_name == "CARGO_ENCODED_RUSTFLAGS" else " ").join(w for o in options for w in ("-C", o))]
    return [f'  "-C", "{o}",' for o in options]


def check_build_flags(crate: Crate, rustflags: Rustflags) -> Finding:
    flags = rustflags.flags
    found = thread_flags(codegen_options(flags))
    missing = [name for name in FEATURES + LINK_ARGS if name not in found]
    origins: dict[str, list[str]] = {}
    for written, flag in (found[name] for name in FEATURES + LINK_ARGS if name in found):
        table = f" [{flag.table}]" if flag.kind != ENV and flag.table not in ("", TARGET_TABLE) else ""
        origins.setdefault(crate.shown(flag.origin) + table, []).append(written)
    details = [f"from {o}: {' '.join(w)}" for o, w in origins.items()] + rustflags.notes
    if not missing:
        size = int(found["--max-memory"][0].partition("=")[2] or 0)
        gib = f" = {size / (1 << 30):g} GiB" if size else ""
        return Finding(OK, "build flags", f"the thread flags are in effect for {TRIPLE} (max memory {size}{gib})", tuple(details))
    env_name = rustflags.env
    configured = [f for f in flags if f.kind != ENV]
    variables = [f.origin for f in flags if f.kind == ENV]
    if env_name is not None:
        where = (f"fix: add to {env_name} (it replaces every config file's rustflags), or unset it:" if flags else
                 f"fix: unset {env_name} (set, even empty, it replaces every config file's rustflags), or add to it:")
    elif configured:
        place = "your --config argument" if configured[-1].origin == CLI else crate.shown(configured[-1].origin)
        where = f"fix: add these lines to `rustflags` under [{configured[-1].table}] in {place}, keeping your own:"
    elif variables:
        env_name = variables[-1]
        where = f"fix: add to {env_name}:"
    else:
        where = f"fix: add to .cargo/config.toml (create it), under [{TARGET_TABLE}]: rustflags = ["
    lines = _fix_lines(missing, env_name) + (["]"] if env_name is None and not configured else [])
    hint = "(--max-memory: what your crate needs, up to 4294967296)" if "--max-memory" in missing else ""
    return Finding(ERROR, "build flags", f"missing for {TRIPLE}: {', '.join(missing)}", tuple(details + [where, *lines] + ([hint] if hint else [])))


def _said(crate: Crate, profile: Setting | None) -> str:
    """Where the release profile's panic strategy comes from, as the user would write it there."""
    if profile is None:
        return f"no [profile.release] panic in {crate.shown(crate.root / 'Cargo.toml')} or cargo's config"
    if profile.kind == ENV:
        return f"{profile.origin}={profile.text}"
    if profile.origin == CLI:
        return f'--config \'profile.release.panic="{profile.text}"\''
    return f'[profile.release] panic = "{profile.text}" in {crate.shown(profile.origin)}'


def _set_panic(crate: Crate, profile: Setting | None, value: str) -> str:
    """How to make the release profile's panic strategy `value` where it is set now (or in the workspace root)."""
    return _said(crate, Setting(value, profile.origin, profile.kind) if profile else Setting(value, str(crate.root / "Cargo.toml")))


def check_panics(crate: Crate, flags: list[Flag], profile: Setting | None) -> Finding:
    """What a panic does in the module this crate builds. The wasm32 target aborts
    unless rustc gets `-C panic=unwind`, which wins over a profile's `panic = "abort"`
    (rustflags come last on rustc's command line: measured, the module then throws);
    only the workspace root's profiles count (cargo warns about a member's)."""
    rustflag = next((v for name, v, _ in reversed(codegen_options(flags)) if name == "panic"), None)
    strategy = profile.text if profile else None
    details = []
    own = crate.manifest.get("profile", {}).get("release", {}).get("panic")
    if crate.root != crate.directory and own is not None:
        details.append(f'Cargo.toml\'s [profile.release] panic = "{own}" is ignored: cargo reads profiles only from the workspace root, '
                       f"{crate.shown(crate.root / 'Cargo.toml')}")
    said = _said(crate, profile)
    guide = 'README "Panics without a reset"'
    if rustflag == "unwind" and strategy == "abort":
        return Finding(WARN, "panics", f"unwind — the rustflag -C panic=unwind wins over {said}; build with -Z build-std=panic_unwind,std",
                       (*details, f"fix: {_set_panic(crate, profile, 'unwind')} too, or drop the rustflag for abort ({guide})"))
    if rustflag == "unwind":
        return Finding(OK, "panics", f"unwind — the pool survives a panic; build with -Z build-std=panic_unwind,std ({said})", tuple(details))
    if strategy == "unwind":
        return Finding(ERROR, "panics", f"{said}, but no -C panic=unwind in rustflags: the wasm32 target aborts, and "
                       "-Z build-std=panic_unwind,std fails with E0463 (can't find crate for `panic_abort`)",
                       (*details, f"fix: {_set_panic(crate, profile, 'abort')} and -Z build-std=panic_abort,std; or for unwinding add "
                        f'"-C", "panic=unwind" to rustflags ({guide})'))
    return Finding(OK, "panics", f"abort — {panics.MEANING[panics.ABORT]} ({said}); build with -Z build-std=panic_abort,std", tuple(details))


def _first_use(sources: list[tuple[Path, str]], pattern: re.Pattern) -> str | None:
    for path, text in sources:
        found = pattern.search(text)
        if found:
            return f"{path.name}:{text.count(chr(10), 0, found.end() - 1) + 1}"
    return None


def check_contract(crate: Crate, sources: list[tuple[Path, str]]) -> Finding:
    """A pool contract the patch can drive: without one, Rayon in wasm has no threads to run on."""
    dependencies = crate.dependencies()
    if "wbg-pool" in dependencies:
        if _first_use(sources, re.compile(r"\binit_thread_pool\b|\bwbg_pool::\*")) is None:
            return Finding(ERROR, "pool contract", "wbg-pool is a dependency, but src/ does not re-export its contract (the glue would lack initThreadPool)",
                           ("fix: add to src/lib.rs: #[cfg(target_arch = \"wasm32\")] pub use wbg_pool::{exit_thread_pool, init_thread_pool};",))
        return Finding(OK, "pool contract", "wbg-pool, its contract re-exported")
    if "wasm-bindgen-rayon" in dependencies:
        return Finding(OK, "pool contract", "wasm-bindgen-rayon (see README \"Crates that already run Rayon in wasm\")")
    own = _first_use(sources, re.compile(r"\bwbg_rayon_start_worker\b|\binitThreadPool\b"))
    if own is not None:
        return Finding(OK, "pool contract", f"a PoolBuilder contract of the crate's own ({own})")
    if "rayon" in dependencies:
        return Finding(ERROR, "pool contract", "rayon is a dependency, but no pool contract: no wbg-pool, no wasm-bindgen-rayon, "
                       "no wbg_rayon_start_worker/initThreadPool in src/", ('fix: add to [dependencies]: wbg-pool (README "Your own crate", step 1)',))
    return Finding(WARN, "pool contract", "no rayon, no pool contract: nothing to run in a pool")


def check_run_in_pool(crate: Crate, sources: list[tuple[Path, str]]) -> Finding:
    """wbg-pool's pool is not Rayon's global pool: parallel work outside `run_in_pool`
    runs on Rayon's global pool, which in wasm has one thread."""
    if "wbg-pool" not in crate.dependencies():
        return Finding(OK, "run_in_pool", "not a wbg-pool crate: not needed")
    parallel = _first_use(sources, PARALLEL)
    if parallel is None:
        return Finding(OK, "run_in_pool", "no Rayon parallel calls in src/ (a token scan)")
    if _first_use(sources, re.compile(r"\brun_in_pool\b")) is None:
        return Finding(ERROR, "run_in_pool", f"parallel Rayon work ({parallel}) but no run_in_pool call in src/: it runs on one thread",
                       ("fix: pass each parallel job to wbg_pool::run_in_pool as a closure (README \"Your own crate\", step 3)", "(a heuristic: a token scan of src/**/*.rs, comments and strings left out)"))
    return Finding(OK, "run_in_pool", f"parallel Rayon work ({parallel}) and run_in_pool in src/ (a token scan)")


def check_node() -> Finding:
    node = _tool("node", "--version")
    if node is None:
        return Finding(ERROR, "node", "no `node` on PATH", (f"fix: install Node {MIN_NODE} or newer",))
    major = int(_version(node[1]).split(".")[0]) if re.search(r"\d+\.\d+\.\d+", node[1]) else 0
    if major < MIN_NODE:
        return Finding(ERROR, "node", f"{node[1]} ({node[0]}): the runtime needs Node {MIN_NODE} or newer", (f"fix: install Node {MIN_NODE} or newer",))
    return Finding(OK, "node", f"{node[1]} ({node[0]})")


def check_toolchain() -> Finding:
    """-Z build-std needs a toolchain with std's sources that allows unstable flags:
    the README's is Debian's rustc-web, linked as `debian-web` by `make setup`."""
    listed = _tool("rustup", "toolchain", "list")
    if listed is None:
        return Finding(ERROR, "toolchain", "no `rustup` on PATH", ("fix: install rustup (https://rustup.rs), then `make setup` for the debian-web toolchain",))
    names = [line.split()[0] for line in listed[1].splitlines() if line.strip()]
    if TOOLCHAIN in names:
        return Finding(OK, "toolchain", f"{TOOLCHAIN} (RUSTUP_TOOLCHAIN={TOOLCHAIN} RUSTC_BOOTSTRAP=1 for -Z build-std)")
    nightly = next((n for n in names if n.startswith("nightly")), None)
    fix = "fix: `make setup` (debian-web), or: rustup toolchain install nightly --component rust-src, then build with RUSTUP_TOOLCHAIN=nightly"
    if nightly is not None and "rust-src" in (_tool("rustup", "component", "list", "--installed", "--toolchain", nightly) or ("", ""))[1]:
        return Finding(WARN, "toolchain", f"no {TOOLCHAIN}; {nightly} has rust-src: build with RUSTUP_TOOLCHAIN={nightly} instead")
    return Finding(ERROR, "toolchain", f"no {TOOLCHAIN} and no nightly with rust-src: -Z build-std (std with atomics) cannot build", (fix,))


def check_wasm_pack() -> Finding:
    wasm_pack = _tool("wasm-pack", "--version")
    if wasm_pack is None:
        return Finding(WARN, "wasm-pack", "not on PATH (optional: cargo build + the wasm-bindgen CLI do the same)")
    return Finding(OK, "wasm-pack", f"{_version(wasm_pack[1])} ({wasm_pack[0]})")


def check_glue(file: Path) -> Finding:
    """What `wbg-patch inspect` finds in a wasm-pack/wasm-bindgen output, in one line."""
    wasm = file.with_name(f"{file.stem}_bg.wasm")
    version = read_module(wasm).processed_by.get("wasm-bindgen", "unknown") if wasm.is_file() else "unknown (no .wasm beside it)"
    model = parse.read(file)
    try:
        locate.locate(model)
    except PatchError as e:
        return Finding(ERROR, "glue", f"{file.name}: wasm-bindgen {version}; wbg-patch would refuse it: {e}")
    generation = model.generation.value if model.generation else f"patched by wbg-patch {model.patched_by}"
    mode = f"panics: {model.panics} — {panics.MEANING[model.panics]}" if model.panics else "panics: unknown"
    return Finding(OK, "glue", f"{file.name}: --target {model.target}, wasm-bindgen {version}; {mode}", (f"generation: {generation}",))


def check_crate(crate: Crate, config: CargoConfig) -> list[Finding]:
    rustflags = rustflags_in_effect(config, rustc_cfg(TOOLCHAIN, config.env))
    code, code_and_text = crate.sources(literals=False), crate.sources(literals=True)
    return [
        check_wasm_bindgen(crate),
        check_build_flags(crate, rustflags),
        check_panics(crate, rustflags.flags, release_panic(config, crate.root, crate.root_manifest)),
        check_contract(crate, code_and_text),
        check_run_in_pool(crate, code),
    ]


def diagnose(
    path: Path, env: dict[str, str] | None = None, config: Sequence[str] = (), check_unwind: bool = False
) -> tuple[Path, list[Finding]]:
    """(the crate or package looked at, every finding). A crate directory gets the
    crate checks; a wasm-pack pkg/ or glue the glue's, and the crate's when a
    Cargo.toml with a [package] stands above it; both get the tools'. `config`: the
    `--config` arguments the build passes to cargo. `check_unwind`: also compile the
    crate for panic=unwind (cargo check, see cargo/unwind_check.py)."""
    env = dict(os.environ if env is None else env)
    path = path.resolve()
    if not path.exists():
        raise InputError("no such file or directory", path)
    findings = []
    crate = path if (path / "Cargo.toml").is_file() else None
    if crate is None:
        if path.is_dir() and not parse.find_glue_files(path):
            raise InputError("has no Cargo.toml and no wasm-bindgen glue: pass a crate directory or a wasm-pack pkg/", path)
        findings += [check_glue(file) for file in pipeline.find_glue(path)]
        above = next((p for p in path.parents if (p / "Cargo.toml").is_file()), None)
        if above is not None and "package" in read_toml(above / "Cargo.toml"):
            crate = above
    if crate is not None:
        package = Crate.read(crate)
        findings += check_crate(package, CargoConfig.read(package.directory, env, config))
    if check_unwind:
        # Imported here: the check reads this module's Finding, and it runs only on request.
        from .cargo import unwind_check

        findings += unwind_check.check_unwind(crate, env, config=config) if crate is not None else [
            Finding(ERROR, unwind_check.CHECK, f"no crate to check for panic=unwind at or above {path}")
        ]
    return crate or path, findings + [check_node(), check_toolchain(), check_wasm_pack()]


def render(subject: Path, findings: list[Finding]) -> list[str]:
    """One screen: a line per check, its details and fix indented under it."""
    lines = [f"wbg-patch doctor: {subject}"]
    for finding in findings:
        lines.append(f"{finding.level:<5}  {finding.check}: {finding.message}")
        lines += [f"         {detail}" for detail in finding.details]
    errors = sum(f.level == ERROR for f in findings)
    warnings = sum(f.level == WARN for f in findings)
    lines.append(f"{errors} error(s), {warnings} warning(s)" if errors or warnings else "every check ok")
    return lines
