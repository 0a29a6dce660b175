"""`wbg-patch doctor --check-unwind`: whether the crate compiles for panic=unwind,
found by a `cargo check` in minutes instead of a failed build.

Under panic=unwind, wasm-bindgen ≥ 0.2.122 (PR #5128) asserts at compile time that
every export's receiver and reference arguments are `RefUnwindSafe` and its owned
arguments `UnwindSafe` (`__rt::ensure_ref_unwind_safe`, `ensure_unwind_safe`): a
crate whose exports take objects with caches in `Cell`/`RefCell`, or a raw pointer
to a foreign channel, builds with panic=abort and fails there with a page of E0277
per export (a real SDK: 128). Each becomes one line here: where, the type, and the
smallest change (README "Panics without a reset"), one per type.

The check runs cargo as scripts/build.sh's `cargo_unwind` builds (std rebuilt with
`panic_unwind`, `-C panic=unwind` added to the crate's own rustflags, the profile's
`panic` overridden), `--lib` as wasm-pack does, into a target dir of its own under
the crate's, so that it invalidates no normal build (see `check_dir`). The first
run checks std too (a minute or two); later ones take seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, TextIO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

# Imported as a module, read at call time: doctor may import this module while it loads.
from .. import doctor as _doctor
from .config import TOOLCHAIN, TRIPLE, CargoConfig, rustc_cfg, rustflags_in_effect

CHECK = "unwind"
TARGET_SUBDIR = "wbg-unwind-check"
GUIDE = 'README "Panics without a reset"'
# What scripts/build.sh's cargo_unwind passes; --config arrays merge with the crate's rustflags.
UNWIND_ARGS = ("-Z", "build-std=panic_unwind,std", "--config", 'profile.release.panic="unwind"')
PANIC_FLAG = '["-C","panic=unwind"]'
CHECKS_FROM = (0, 2, 122)  # the first wasm-bindgen that asserts unwind safety at exports
CATCHES_FROM = (0, 2, 107)  # the first that catches a panic at an export at all
SHOWN_OTHERS = 5

_REQUIRED_FOR = re.compile(r"^required for `(.+)` to implement `(Ref)?UnwindSafe`$")
_WITHIN = re.compile(r"^within `(.+)`, the trait `(?:Ref)?UnwindSafe` is not implemented for `(.+)`$")
_NOT_IMPLEMENTED = re.compile(r"the trait `(?:Ref)?UnwindSafe` is not implemented for `(.+)`$")
_THE_TYPE = re.compile(r"^the type `(.+)` may (?:contain interior mutability|not be safely transferred)")
_APPEARS_WITHIN = re.compile(r"^required because it appears within the type `(.+)`$")


@dataclass
class Unsafe:
    """One type an export needs unwind-safe, with every place that needs it."""

    type: str  # what wasm-bindgen asserts (Ref)UnwindSafe for: `Srs`, `*const spmc::Receiver<T>`
    own: bool  # declared in this workspace, so `impl RefUnwindSafe` for it is allowed
    package_own: bool  # the export is the crate's (not a dependency's)
    sites: list[str] = field(default_factory=list)  # file:line of each export argument or receiver
    holds: list[str] = field(default_factory=list)  # the fields (own type) or cells (foreign) in the way

    @property
    def pointee(self) -> str | None:
        found = re.match(r"^\*(?:const|mut) (.+)$", self.type)
        return found.group(1) if found else None


@dataclass
class Outcome:
    """What cargo's JSON messages said."""

    unsafe: dict[str, Unsafe] = field(default_factory=dict)  # by type, in order of first site
    count: int = 0  # E0277s about unwind safety
    others: list[str] = field(default_factory=list)  # first lines of every other error


def _span_place(span: dict, workspace: Path, crate: Path) -> str:
    """file:line as the user reads it: relative to the crate when inside it. Cargo gives
    workspace members' paths relative to the workspace root, others' absolute."""
    while span.get("expansion") and (span["file_name"].startswith("<") or Path(span["file_name"]).is_absolute()):
        span = span["expansion"]["span"]  # a macro's own code: the place that used the macro
    path = Path(span["file_name"])
    path = path if path.is_absolute() else workspace / path
    shown = path.relative_to(crate) if path.is_relative_to(crate) else path
    return f"{shown}:{span['line_start']}"


def _primary(message: dict) -> dict | None:
    return next((s for s in message.get("spans", []) if s.get("is_primary")), None)


def _is_unwind_error(message: dict) -> bool:
    if message.get("level") != "error" or (message.get("code") or {}).get("code") != "E0277":
        return False
    texts = [message["message"]] + [c["message"] for c in message.get("children", [])]
    return any("UnwindSafe" in t or "catch_unwind" in t or "unwind boundary" in t for t in texts)


def _the_type(message: dict) -> tuple[str, str | None]:
    """(the type wasm-bindgen asserts, the innermost type that is not unwind-safe)."""
    children = [c["message"] for c in message.get("children", [])]
    inner = next((m.group(1) for c in children if (m := _NOT_IMPLEMENTED.search(c))), None)
    if inner is None and (m := _THE_TYPE.match(message["message"])):
        inner = m.group(1)
    # `*const T: UnwindSafe` needs `T: RefUnwindSafe`: rustc says "required for `*const T`".
    required = [m.group(1) for c in children if (m := _REQUIRED_FOR.match(c))]
    if required:
        return required[-1], inner
    within = next((m.group(1) for c in children if (m := _WITHIN.match(c))), None)
    return within or inner or "?", inner


def _declared_here(message: dict, name: str) -> bool:
    """Whether rustc's chain of "appears within the type" notes puts `name` in a
    workspace file (cargo passes those paths relative, every other one absolute)."""
    for child in message.get("children", []):
        found = _APPEARS_WITHIN.match(child["message"])
        if found and found.group(1) == name:
            return any(not Path(s["file_name"]).is_absolute() for s in child.get("spans", []))
    return False


def _holds(message: dict, name: str, inner: str | None) -> str | None:
    """For a type of the crate's own: the type of its field that is not unwind-safe
    (the link of rustc's chain just inside `name`); else the innermost cell."""
    chain = [m.group(1) for c in message.get("children", []) if (m := _APPEARS_WITHIN.match(c["message"]))]
    if name in chain:
        at = chain.index(name)
        return chain[at - 1] if at > 0 else inner
    return inner


def parse_messages(lines: Iterable[str], crate: Path, workspace: Path | None = None) -> Outcome:
    """Reads `cargo … --message-format=json` output (one JSON object a line; other lines
    are skipped) for the crate at `crate` (its workspace root: `workspace`, default the crate)."""
    crate, workspace = Path(crate), Path(workspace or crate)
    outcome = Outcome()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("reason") != "compiler-message":
            continue
        message = record["message"]
        if message.get("level") != "error" or message["message"].startswith("aborting due to"):
            continue
        primary = _primary(message)
        place = _span_place(primary, workspace, crate) if primary else None
        if not _is_unwind_error(message):
            code = (message.get("code") or {}).get("code")
            text = f"error[{code}]: {message['message']}" if code else f"error: {message['message']}"
            outcome.others.append(f"{place}: {text}" if place else text)
            continue
        outcome.count += 1
        name, inner = _the_type(message)
        pointee = re.sub(r"^\*(?:const|mut) ", "", name)
        own_package = Path(record.get("manifest_path", "")).parent.resolve() == crate.resolve()
        entry = outcome.unsafe.setdefault(name, Unsafe(name, _declared_here(message, pointee), own_package))
        if place and place not in entry.sites:
            entry.sites.append(place)
        held = _holds(message, pointee, inner) if entry.own else inner
        if held and held not in entry.holds:
            entry.holds.append(held)
    return outcome


def _kind_and_fix(entry: Unsafe) -> tuple[str, str]:
    """What the type is, and the smallest change that makes it pass (README "Panics
    without a reset"): the crate's own types get an impl, foreign ones a wrapper."""
    pointee = entry.pointee
    if not entry.package_own:
        return "in a dependency's export", "it needs a release of that dependency that builds with panic=unwind (or a [patch] of it)"
    if pointee is not None and entry.own:
        return "a raw pointer to this crate's type", f"impl std::panic::RefUnwindSafe for {pointee} {{}}"
    if pointee is not None:
        return "a raw pointer to a foreign type", (
            f"point at std::panic::AssertUnwindSafe<{pointee}> instead: keep the value in an AssertUnwindSafe field "
            "and take `*const AssertUnwindSafe<…>` (a foreign type cannot get the impl: E0117)")
    if entry.own:
        return "this crate's type", f"impl std::panic::RefUnwindSafe for {entry.type} {{}}"
    return "a foreign type", "wrap it in std::panic::AssertUnwindSafe (a foreign type cannot get the impl: E0117)"


def _places(sites: list[str]) -> str:
    """file:line, file:line, …: a file named once for its run of lines."""
    shown, last = [], None
    for site in sites[:8]:
        file, _, line = site.rpartition(":")
        shown.append(line if file == last else site)
        last = file
    return ", ".join(shown) + (f" and {len(sites) - 8} more" if len(sites) > 8 else "")


def outcome_findings(outcome: Outcome, wasm_bindgen: str | None = None) -> list:
    """The findings for what cargo said: a summary, then one line per type with its fix,
    then other errors as such. Empty when cargo reported no error."""
    Finding, ERROR = _doctor.Finding, _doctor.ERROR
    findings = []
    if outcome.unsafe:
        version = f"wasm-bindgen {wasm_bindgen}" if wasm_bindgen else "wasm-bindgen (≥ 0.2.122)"
        findings.append(Finding(ERROR, CHECK, (
            f"a panic=unwind build fails with {outcome.count} × E0277: under panic=unwind {version} requires every "
            f"export's arguments and receivers to be unwind-safe, and {len(outcome.unsafe)} type(s) are not (a line each)"), (
            "an `impl RefUnwindSafe` is your promise that a call that panics leaves the value fit for the next call "
            f"(no half-filled cache, no broken invariant): check it for each type ({GUIDE})",)))
        for entry in outcome.unsafe.values():
            kind, fix = _kind_and_fix(entry)
            first = entry.sites[0] if entry.sites else "?"
            why = ("its field of type" if len(entry.holds) == 1 else "its fields of type") if entry.own and entry.pointee is None else "inside it:"
            holds = f"; not unwind-safe: {why} {', '.join(entry.holds[:3])}" if entry.holds else ""
            findings.append(Finding(ERROR, CHECK, f"{first}: `{entry.type}` ({kind}): fix: {fix}",
                                    (f"needed at {_places(entry.sites)}{holds}",)))
    if outcome.others:
        shown = outcome.others[:SHOWN_OTHERS]
        more = [f"and {len(outcome.others) - SHOWN_OTHERS} more"] if len(outcome.others) > SHOWN_OTHERS else []
        findings.append(Finding(ERROR, CHECK, f"a panic=unwind build fails with other compile errors ({len(outcome.others)}): {shown[0]}",
                                tuple(shown[1:] + more)))
    return findings


def _version(text: str | None) -> tuple[int, ...] | None:
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(n) for n in found.groups()) if found else None


def _locked_wasm_bindgen(workspace: Path) -> str | None:
    try:
        packages = tomllib.loads((workspace / "Cargo.lock").read_text()).get("package", [])
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return next((p.get("version") for p in packages if p.get("name") == "wasm-bindgen"), None)


def _toolchain(env: dict[str, str]) -> tuple[str | None, str | None]:
    """(the toolchain to run cargo with, None for the cargo on PATH as it is; or a
    reason there is none): RUSTUP_TOOLCHAIN if the user set it, else doctor's choice."""
    path = env.get("PATH")
    if shutil.which("rustup", path=path) is None:
        if shutil.which("cargo", path=path) is None:
            return None, "no `cargo` (and no `rustup`) on PATH: install rustup (https://rustup.rs), then `make setup`"
        return None, None
    if env.get("RUSTUP_TOOLCHAIN"):
        return env["RUSTUP_TOOLCHAIN"], None
    try:
        listed = subprocess.run(["rustup", "toolchain", "list"], capture_output=True, text=True, env=env, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"`rustup toolchain list` failed: {e}"
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    if TOOLCHAIN in names:
        return TOOLCHAIN, None
    nightly = next((n for n in names if n.startswith("nightly")), None)
    if nightly is not None:
        return nightly, None
    return None, (f"no {TOOLCHAIN} and no nightly toolchain: -Z build-std cannot run "
                  "(`make setup` for debian-web, or: rustup toolchain install nightly --component rust-src)")


def _unwind_env(env: dict[str, str], toolchain: str | None) -> dict[str, str]:
    run = dict(env, RUSTC_BOOTSTRAP="1", CARGO_TERM_COLOR="never", CARGO_TERM_PROGRESS_WHEN="never")
    if toolchain:
        run["RUSTUP_TOOLCHAIN"] = toolchain
    # An environment RUSTFLAGS replaces every config's rustflags, --config's too: add the flag there.
    if "CARGO_ENCODED_RUSTFLAGS" in env:
        run["CARGO_ENCODED_RUSTFLAGS"] = "\x1f".join(filter(None, [env["CARGO_ENCODED_RUSTFLAGS"], "-C", "panic=unwind"]))
    elif "RUSTFLAGS" in env:
        run["RUSTFLAGS"] = f"{env['RUSTFLAGS']} -C panic=unwind".strip()
    return run


def _metadata(crate: Path, env: dict[str, str]) -> tuple[dict | None, str | None]:
    try:
        done = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=crate, env=env,
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"`cargo metadata` failed: {e}"
    if done.returncode != 0:
        return None, _cargo_error(done.stderr) or f"`cargo metadata` exited {done.returncode}"
    return json.loads(done.stdout), None


def _cargo_error(stderr: str) -> str | None:
    """cargo's own error (not a compiler's): its `error:` line and what follows it."""
    lines = stderr.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("error")), None)
    return None if at is None else " ".join(line.strip() for line in lines[at:at + 4] if line.strip())


def check_dir(target: Path, workspace: Path) -> Path:
    """Where the check compiles: its own directory in the crate's target dir. A target dir
    that other workspaces share too (CARGO_TARGET_DIR, build.target-dir) gets one per
    workspace: cargo keys a path package's fingerprints by its path *relative to its
    workspace root*, so two copies of a crate there would pass for each other, and the
    copy that has the E0277s would be told it compiles (seen: a patched copy's success
    replayed for the original)."""
    if target.is_relative_to(workspace):
        return target / TARGET_SUBDIR
    return target / TARGET_SUBDIR / f"{workspace.name}-{hashlib.sha256(str(workspace).encode()).hexdigest()[:12]}"


def panic_flag_config(crate: Path, env: dict[str, str], config: Sequence[str]) -> list[str]:
    """The `--config` arguments that add `-C panic=unwind` to the crate's own rustflags (after
    the build's own `config`): in the table they come from, since a target table's rustflags
    replace `[build] rustflags` whole (so the thread flags would be lost). An environment
    RUSTFLAGS gets it in `_unwind_env` instead."""
    settings = CargoConfig.read(crate, env, config)
    flags = rustflags_in_effect(settings, rustc_cfg(TOOLCHAIN, settings.env)).flags
    table = "build" if flags and all(flag.table == "build" for flag in flags) else f"target.{TRIPLE}"
    return [arg for value in config for arg in ("--config", value)] + ["--config", f"{table}.rustflags={PANIC_FLAG}"]


def check_unwind(crate_dir: Path, env: dict[str, str] | None = None, progress: TextIO | None = None, config: Sequence[str] = ()) -> list:
    """Runs the unwind check on the crate at `crate_dir` and returns doctor findings: one OK
    when it compiles, else a line per type to change, other errors as such, or why no check
    could run. `config`: the build's own `--config` arguments. Prints progress to `progress`
    (stderr): the first run takes a minute or two."""
    Finding, ERROR = _doctor.Finding, _doctor.ERROR
    env = dict(os.environ if env is None else env)
    progress = sys.stderr if progress is None else progress
    crate = Path(crate_dir).resolve()
    if not (crate / "Cargo.toml").is_file():
        return [Finding(ERROR, CHECK, f"no Cargo.toml in {crate}: pass the crate's directory")]
    toolchain, missing = _toolchain(env)
    if missing:
        return [Finding(ERROR, CHECK, f"cannot check the unwind build: {missing}")]
    run_env = _unwind_env(env, toolchain)
    metadata, failed = _metadata(crate, run_env)
    if metadata is None:
        return [Finding(ERROR, CHECK, f"cannot check the unwind build: {failed}")]
    workspace = Path(metadata["workspace_root"])
    target_dir = check_dir(Path(metadata["target_directory"]), workspace)
    command = ["cargo", "check", "--lib", "--release", "--target", TRIPLE, *UNWIND_ARGS, *panic_flag_config(crate, env, config),
               "--message-format=json", "--target-dir", str(target_dir)]
    print(f"wbg-patch doctor: cargo check for panic=unwind ({toolchain or 'cargo on PATH'}, in {target_dir}); "
          "the first run checks std too, a minute or two", file=progress, flush=True)
    started = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=crate, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        return [Finding(ERROR, CHECK, f"cannot run cargo: {e}")]
    stderr: list[str] = []
    names = {p["name"] for p in metadata.get("packages", []) if Path(p["manifest_path"]).parent == crate}

    def relay() -> None:
        """Keeps cargo's stderr (its own errors) and passes on its status lines, sparsely:
        the crate's own, and one every 10 s meanwhile (std alone is some 50 crates)."""
        said, crates = time.monotonic(), 0
        for line in process.stderr:
            stderr.append(line)
            status = line.strip()
            if not status.startswith(("Compiling ", "Checking ")):
                continue
            crates += 1
            if status.split()[1] in names or time.monotonic() - said >= 10:
                print(f"  {status} (crate {crates})", file=progress, flush=True)
                said = time.monotonic()

    relaying = threading.Thread(target=relay, daemon=True)
    relaying.start()
    outcome = parse_messages(process.stdout, crate, workspace)
    code = process.wait()
    relaying.join()
    seconds = time.monotonic() - started
    version = _locked_wasm_bindgen(workspace)
    findings = outcome_findings(outcome, version)
    if findings:
        return findings
    if code != 0:
        said = _cargo_error("".join(stderr)) or f"cargo exited {code}"
        return [Finding(ERROR, CHECK, f"cargo check for panic=unwind failed before compiling the crate: {said}")]
    return [compiled(seconds, version)]


def compiled(seconds: float, wasm_bindgen: str | None):
    """The finding for a check that compiled, by what the locked wasm-bindgen does."""
    Finding, OK, WARN = _doctor.Finding, _doctor.OK, _doctor.WARN
    done = f"cargo check with panic=unwind compiles ({seconds:.0f} s)"
    parsed = _version(wasm_bindgen)
    if parsed is not None and parsed < CATCHES_FROM:
        return Finding(WARN, CHECK, f"{done}, but wasm-bindgen {wasm_bindgen} cannot catch a panic at an export: it aborts there",
                       (f"fix: wasm-bindgen ≥ 0.2.107 for panics that keep the pool ({GUIDE})",))
    if parsed is not None and parsed < CHECKS_FROM:
        return Finding(OK, CHECK, f"{done}; wasm-bindgen {wasm_bindgen} does not check exports' unwind safety (0.2.122 and later do)",
                       ("a bump to ≥ 0.2.122 may fail with E0277: run this check again after it",))
    return Finding(OK, CHECK, f"{done}: every export's arguments are unwind-safe")
