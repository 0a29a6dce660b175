"""Cargo's configuration for a wasm32-unknown-unknown build, resolved as cargo resolves
it, each value with where it comes from (a file, an environment variable, `--config`).

The rules are cargo's documented ones (the Cargo Book's "Configuration", "Environment
Variables" and "Workspaces") and, where the book is silent, its source
(`extra_args` in src/cargo/core/compiler/build_context/target_info.rs,
`get_list_or_string` in src/cargo/util/context/mod.rs), each checked against cargo
1.96 (`cargo check -v` prints the rustflags it passes; `cargo config get
--show-origin` the merged config):
- config files: `.cargo/config.toml` (`.cargo/config` when both exist) in the build's
  directory and in every directory above it, and `$CARGO_HOME/config.toml`; a deeper
  file wins a string, and arrays are joined, the deeper file's items later;
- `--config KEY=VALUE` and `--config FILE` win over the files; a `CARGO_…` variable
  wins a string over the files but not over `--config`, and joins an array between
  the files' items and `--config`'s;
- rustflags: the first set of CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS (set, even empty),
  the target's (`target.wasm32-unknown-unknown` and every `target.'cfg(…)'` that
  matches, joined), `build.rustflags`; never two of them;
- the workspace root: the nearest `[workspace]` above that does not exclude the
  package; only its `[profile]` counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Callable, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from ..errors import InputError

TRIPLE = "wasm32-unknown-unknown"
# The toolchain of the README ("Your own crate" step 4): Debian's rustc-web, linked by `make setup`.
TOOLCHAIN = "debian-web"
TARGET_TABLE = f"target.{TRIPLE}"
# Kinds of source, in cargo's order of precedence: a merged array is ordered by it too.
FILE, ENV, CLI = "file", "environment", "--config"
RANK = {FILE: 0, ENV: 1, CLI: 2}
ENV_RUSTFLAGS = ("CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS")  # the first one set wins


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"cannot read it as TOML: {e}", path) from e


@dataclass(frozen=True)
class Setting:
    text: str
    origin: str  # a config file or Cargo.toml, an environment variable, `--config`, or `--config FILE`
    kind: str = FILE  # FILE, ENV or CLI


@dataclass(frozen=True)
class Flag(Setting):
    table: str = ""  # the config table it sits in: TARGET_TABLE, a target.'cfg(…)', or "build"


@dataclass(frozen=True)
class _Layer:
    table: dict
    origin: str
    kind: str


def env_name(key: Sequence[str]) -> str:
    """The variable cargo reads for a config key: profile.release.panic → CARGO_PROFILE_RELEASE_PANIC."""
    return "_".join(["CARGO", *(part.upper().replace(".", "_").replace("-", "_") for part in key)])


def config_files(directory: Path, env: dict[str, str]) -> list[Path]:
    """Cargo's config files for a build run in `directory` (wasm-pack runs cargo
    there), lowest precedence first: $CARGO_HOME's, then each .cargo/ from / down.
    When $CARGO_HOME is one of those .cargo/, cargo reads it there, once."""
    home = Path(env.get("CARGO_HOME") or Path(env.get("HOME") or Path.home()) / ".cargo")
    folders = [d / ".cargo" for d in reversed([directory, *directory.parents])]
    found = []
    for folder in folders if home in folders else [home, *folders]:
        # Cargo reads `config` (the old name) when both exist.
        file = next((folder / n for n in ("config", "config.toml") if (folder / n).is_file()), None)
        if file is not None:
            found.append(file)
    return found


def _assigned(argument: str) -> str:
    """What follows the `=` of `key = value` (a quoted key may hold an `=`)."""
    quote = None
    for at, char in enumerate(argument):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "=":
            return argument[at + 1 :]
    return ""


def _argument(argument: str, cwd: Path) -> _Layer:
    """A `--config` argument as cargo takes it: a file that exists, else one TOML
    dotted key set to a value that is not an inline table."""
    file = cwd / argument
    try:
        exists = bool(argument) and file.exists()
    except OSError:  # as for cargo's Path::exists, a name too long for a file is no file
        exists = False
    if exists:
        return _Layer(read_toml(file), f"--config {file}", CLI)
    usage = "cargo takes a file, or one TOML dotted key = value such as `profile.release.panic=\"unwind\"`"
    try:
        table = tomllib.loads(argument)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"--config `{argument}`: no such file, and not TOML ({e}): {usage}") from e
    node: object = table
    while isinstance(node, dict) and len(node) == 1:
        node = next(iter(node.values()))
    if isinstance(node, dict) or _assigned(argument).lstrip().startswith("{"):
        raise InputError(f"--config `{argument}`: not one dotted key set to a value (an inline table is not accepted either): {usage}")
    return _Layer(table, CLI, CLI)


@dataclass(frozen=True)
class CargoConfig:
    """The config files and `--config` arguments of a build, and its environment."""

    env: dict[str, str]
    layers: list[_Layer]  # lowest precedence first

    @classmethod
    def read(cls, directory: Path, env: dict[str, str], arguments: Sequence[str] = (), cwd: Path | None = None) -> CargoConfig:
        """`arguments`: the build's `--config` values, in order; a file among them is
        found from `cwd` (default: the current directory), as cargo finds it."""
        layers = [_Layer(read_toml(f), str(f), FILE) for f in config_files(directory, env)]
        return cls(env, layers + [_argument(a, cwd or Path.cwd()) for a in arguments])

    def _found(self, key: Sequence[str]) -> list[tuple[_Layer, object]]:
        found = []
        for layer in self.layers:
            node: object = layer.table
            for part in key:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                found.append((layer, node))
        return found

    def value(self, key: Sequence[str]) -> Setting | None:
        """A string setting: --config's (the last), else its CARGO_… variable, else the deepest file's."""
        found = self._found(key)
        given = [f for f in found if f[0].kind == CLI]
        name = env_name(key)
        if not given and name in self.env:
            return Setting(self.env[name], name, ENV)
        if not found:
            return None
        layer, value = (given or found)[-1]
        return Setting(str(value), layer.origin, layer.kind)

    def flags(self, key: Sequence[str], table: str, from_env: bool = True) -> list[Flag]:
        """A string-or-array setting such as rustflags, item by item. Arrays are joined,
        lowest precedence first; a string is not joined: the highest one stands, split
        at white space. Its CARGO_… variable (unless not `from_env`) adds its items."""
        found = self._found(key)
        dotted = ".".join(key)
        for layer, value in found:
            if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise InputError(f"`{dotted}` must be a string or an array of strings", Path(layer.origin))
        if len({isinstance(v, str) for _, v in found}) > 1:
            raise InputError(f"`{dotted}` is a string in one of {', '.join(layer.origin for layer, _ in found)} and an array in another: "
                             "cargo refuses to merge them")
        if found and isinstance(found[0][1], str):
            found = found[-1:]
        items = [Flag(t, layer.origin, layer.kind, table) for layer, v in found for t in (v.split() if isinstance(v, str) else v)]
        name = env_name(key)
        if from_env and name in self.env:
            items += [Flag(t, name, ENV, table) for t in self.env[name].split()]
        # Cargo sorts the joined array by kind of source: the variable's items come before --config's.
        return sorted(items, key=lambda f: RANK[f.kind])

    def target_cfgs(self) -> list[str]:
        """The keys of every [target.'cfg(…)'] table, in cargo's order: by key, not by file."""
        tables = [layer.table["target"] for layer in self.layers if isinstance(layer.table.get("target"), dict)]
        return sorted({key for table in tables for key in table if key.startswith("cfg(")})


# What `rustc --print cfg` says: `name` or `name="value"`, one a line.
CFG_LINE = re.compile(r'(\w+)(?:="(.*)")?')


def parse_cfg(text: str) -> frozenset[tuple[str, str | None]]:
    return frozenset((m.group(1), m.group(2)) for m in map(CFG_LINE.fullmatch, text.split()) if m)


# `rustc +debian-web --print cfg --target wasm32-unknown-unknown -C
# target-feature=+atomics,+bulk-memory,+mutable-globals` of rustc 1.96 with RUSTC_BOOTSTRAP=1:
# what cfg(…) tables are evaluated against when rustc cannot be asked.
KNOWN_CFG = parse_cfg("""
debug_assertions emscripten_wasm_eh fmt_debug="full" overflow_checks panic="abort" relocation_model="static"
target_abi="" target_arch="wasm32" target_endian="little" target_env="" target_family="wasm"
target_feature="atomics" target_feature="bulk-memory" target_feature="multivalue" target_feature="mutable-globals"
target_feature="nontrapping-fptoint" target_feature="reference-types" target_feature="sign-ext"
target_has_atomic target_has_atomic="16" target_has_atomic="32" target_has_atomic="64" target_has_atomic="8"
target_has_atomic="ptr" target_has_atomic_equal_alignment="16" target_has_atomic_equal_alignment="32"
target_has_atomic_equal_alignment="64" target_has_atomic_equal_alignment="8" target_has_atomic_equal_alignment="ptr"
target_has_atomic_load_store target_has_atomic_load_store="16" target_has_atomic_load_store="32"
target_has_atomic_load_store="64" target_has_atomic_load_store="8" target_has_atomic_load_store="ptr"
target_has_reliable_f128 target_has_reliable_f16 target_has_reliable_f16_math target_os="unknown"
target_pointer_width="32" target_thread_local target_vendor="unknown" ub_checks
""")


@dataclass(frozen=True)
class TargetCfg:
    values: frozenset[tuple[str, str | None]]
    stand_in: str = ""  # when rustc could not be asked: why, and what stood in for its answer


def rustc_cfg(toolchain: str, env: dict[str, str]) -> Callable[[list[str]], TargetCfg]:
    """Asks the toolchain's rustc for the cfg of wasm32-unknown-unknown under some
    rustflags, as cargo asks it; KNOWN_CFG when it cannot. Through rustup, which finds
    that toolchain's rustc wherever another rustc stands on PATH."""

    def ask(flags: list[str]) -> TargetCfg:
        command = ["rustup", "run", toolchain, "rustc", "--print", "cfg", "--target", TRIPLE, *flags]
        rustup = shutil.which("rustup", path=env.get("PATH"))
        why = "no rustup on PATH"
        if rustup is not None:
            try:
                # The build runs with RUSTC_BOOTSTRAP=1 (README "Your own crate", step 4), and only
                # then does rustc put unstable target features such as atomics in the cfg.
                done = subprocess.run([rustup, *command[1:]], capture_output=True, text=True, timeout=60, env={**env, "RUSTC_BOOTSTRAP": "1"})
            except (OSError, subprocess.TimeoutExpired) as e:
                why = str(e)
            else:
                if done.returncode == 0:
                    return TargetCfg(parse_cfg(done.stdout))
                why = next((line for line in done.stderr.splitlines() if line.startswith("error")), f"exit status {done.returncode}")
        return TargetCfg(KNOWN_CFG, f"`{' '.join(command[:8])}` failed ({why}): cfg(…) evaluated as for rustc 1.96 with +atomics")

    return ask


_TOKEN = re.compile(r'[(),=]|"[^"]*"|(r#)?[A-Za-z_]\w*')
_NAME = re.compile(r"(r#)?[A-Za-z_]\w*")


def _tokens(expression: str) -> list[str]:
    tokens, at = [], 0
    while at < len(expression):
        if expression[at].isspace():
            at += 1
            continue
        token = _TOKEN.match(expression, at)
        if token is None:
            raise ValueError(f"unexpected `{expression[at]}`")
        tokens.append(token.group(0))
        at = token.end()
    return tokens


def _take(tokens: list[str], expected: str) -> str:
    if not tokens:
        raise ValueError(f"expected {expected}, found the end")
    return tokens.pop(0)


def _evaluate(tokens: list[str], cfg: frozenset[tuple[str, str | None]]) -> bool:
    """Takes one cfg expression off the front of `tokens`, and tells whether it holds."""
    word = _take(tokens, "a cfg expression")
    if word in ("all", "any", "not"):
        if _take(tokens, "`(`") != "(":
            raise ValueError(f"expected `(` after `{word}`")
        values = []
        while tokens[:1] != [")"]:
            values.append(_evaluate(tokens, cfg))
            if tokens[:1] == [","]:
                tokens.pop(0)
            elif tokens[:1] != [")"]:
                raise ValueError(f"expected `,` or `)` in `{word}(…)`, found {tokens[0] if tokens else 'the end'}")
        tokens.pop(0)
        if word == "not" and len(values) != 1:
            raise ValueError("`not(…)` takes exactly one expression")
        return not values[0] if word == "not" else all(values) if word == "all" else any(values)
    if not _NAME.fullmatch(word):
        raise ValueError(f"expected a name, found `{word}`")
    if word in ("true", "false"):
        return word == "true"
    value = None
    if tokens[:1] == ["="]:
        tokens.pop(0)
        value = _take(tokens, "a string")
        if not value.startswith('"'):
            raise ValueError(f'expected a "string" after `{word} =`, found `{value}`')
        value = value[1:-1]
    return (word.removeprefix("r#"), value) in cfg


def cfg_matches(key: str, cfg: frozenset[tuple[str, str | None]]) -> bool:
    """Whether a `cfg(…)` target key applies to a target of that cfg, as cargo
    evaluates it (all/any/not, name, name = "value", true/false); ValueError, saying
    why, for one cargo cannot parse (cargo then skips it without a word)."""
    if not (key.startswith("cfg(") and key.endswith(")")):
        raise ValueError("not of the form cfg(…)")
    tokens = _tokens(key[4:-1])
    holds = _evaluate(tokens, cfg)
    if tokens:
        raise ValueError(f"unexpected `{tokens[0]}` after the expression")
    return holds


@dataclass(frozen=True)
class Rustflags:
    flags: list[Flag]  # what rustc gets, in order
    env: str | None  # CARGO_ENCODED_RUSTFLAGS or RUSTFLAGS when one is set, even empty: then it is all rustc gets
    notes: list[str]  # the rustflags that lose and why, and cfg(…) tables that cargo skips


def _env_rustflags(env: dict[str, str]) -> tuple[str, list[Flag]] | None:
    for name in ENV_RUSTFLAGS:
        if name in env:
            value = env[name]
            if name == "CARGO_ENCODED_RUSTFLAGS":
                return name, [Flag(t, name, ENV) for t in value.split("\x1f")] if value else []
            # Cargo splits RUSTFLAGS at spaces only: a tab or a newline stays inside a flag.
            return name, [Flag(t.strip(), name, ENV) for t in value.split(" ") if t.strip()]
    return None


def _origins(flags: list[Flag]) -> str:
    return ", ".join(dict.fromkeys(f.origin for f in flags))


def _texts(flags: list[Flag]) -> list[str]:
    return [f.text for f in flags]


def rustflags_in_effect(config: CargoConfig, ask: Callable[[list[str]], TargetCfg]) -> Rustflags:
    """The rustflags cargo passes for wasm32-unknown-unknown, each with its origin.
    Which cfg(…) tables apply depends on the rustflags (`+atomics` makes
    `target_feature = "atomics"` hold), so cargo asks rustc (`ask`) for the cfg under
    the flags chosen before any cfg(…) table, chooses again, and if that changed them,
    asks and chooses once more, keeping the second choice; rustc is not asked when no
    cfg(…) table has rustflags."""
    env = _env_rustflags(config.env)
    build = config.flags(("build", "rustflags"), "build")
    cfgs = {key: flags for key in config.target_cfgs() if (flags := config.flags(("target", key, "rustflags"), f"target.'{key}'", from_env=False))}
    notes = []
    for key in list(cfgs):
        try:
            cfg_matches(key, frozenset())  # only to parse it: what holds is rustc's to say
        except ValueError as e:
            notes.append(f"[target.'{key}'] of {_origins(cfgs.pop(key))} is skipped: cargo cannot parse it ({e}), and says nothing")

    def choose(cfg: TargetCfg | None) -> tuple[list[Flag], list[Flag]]:
        target = config.flags(("target", TRIPLE, "rustflags"), TARGET_TABLE)
        target += [f for key, flags in cfgs.items() if cfg is not None and cfg_matches(key, cfg.values) for f in flags]
        return target, env[1] if env else target or build

    target, flags = choose(None)
    if cfgs:
        for turn in (0, 1):
            cfg = ask(_texts(flags))
            target, chosen = choose(cfg)
            if _texts(chosen) == _texts(flags):
                break
            if turn == 1:
                notes.append("cargo warns of a \"non-trivial mutual dependency between target-specific configuration and RUSTFLAGS\": "
                             "a cfg(…) table's rustflags make another apply, and cargo keeps the flags above, without the other's")
            else:
                flags = chosen
        notes += [cfg.stand_in] if cfg.stand_in else []
        notes += [f"[target.'{key}'] of {_origins(cfgs[key])} does not apply to {TRIPLE}" for key in cfgs if not cfg_matches(key, cfg.values)]
    if env is not None:
        lost = [n for n in ENV_RUSTFLAGS[ENV_RUSTFLAGS.index(env[0]) + 1 :] if n in config.env] + [f.origin for f in target or build]
        if lost:
            notes.insert(0, f"{env[0]} is set{'' if env[1] else ' but empty'}: it replaces the rustflags of {', '.join(dict.fromkeys(lost))} "
                         f"entirely{'' if env[1] else ', and rustc gets none'}")
    elif target and build:
        notes.insert(0, f"build.rustflags of {_origins(build)} are ignored: target rustflags win")
    return Rustflags(flags, env[0] if env else None, notes)


def workspace_root(directory: Path, manifest: dict) -> Path:
    """Where cargo finds the workspace of the package in `directory` (its Cargo.lock
    and the only [profile] that counts): `package.workspace`, or the package itself
    when it has a [workspace], else the nearest directory above whose [workspace] does
    not exclude it. Cargo needs no `members` entry to take that root (it then refuses
    to build, saying so)."""
    pointer = manifest.get("package", {}).get("workspace")
    if pointer is not None:
        return (directory / pointer).resolve()
    if "workspace" in manifest:
        return directory
    for parent in directory.parents:
        workspace = read_toml(parent / "Cargo.toml").get("workspace") if (parent / "Cargo.toml").is_file() else None
        if isinstance(workspace, dict) and not _excludes(parent, workspace, directory):
            return parent
    return directory


def _excludes(root: Path, workspace: dict, directory: Path) -> bool:
    """Cargo's test: `exclude` entries are paths that hold what they name and all
    below it, compared part by part (`./crates/x/` is crates/x); an entry of `members`
    that holds the package wins over them, but a glob there names nothing."""

    def holds(key: str) -> bool:
        return any(directory.is_relative_to(PurePath(root, entry)) for entry in workspace.get(key, []))

    return holds("exclude") and not holds("members")


def release_panic(config: CargoConfig, root: Path, root_manifest: dict) -> Setting | None:
    """`panic` of the release profile as cargo resolves it: --config, then
    CARGO_PROFILE_RELEASE_PANIC, then the config files, then the workspace root's
    Cargo.toml (cargo ignores a member's profiles, with a warning)."""
    configured = config.value(("profile", "release", "panic"))
    declared = root_manifest.get("profile", {}).get("release", {}).get("panic")
    if configured is None and declared is not None:
        return Setting(str(declared), str(root / "Cargo.toml"))
    return configured
