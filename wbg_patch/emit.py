"""Write the runtime (manager, host, worker) beside the patched glue.

The thread-role files are jinja2 templates configured per glue file; the
protocol, errors and type declarations are plain files copied as they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import jinja2

from . import __version__
from .errors import InputError, InternalError

def _resources(name: str) -> Path:
    """`templates/` or `runtime_js/`: inside the package when installed from the
    wheel (see pyproject.toml), beside it in a source checkout."""
    package = Path(__file__).resolve().parent
    inside = package / name
    return inside if inside.is_dir() else package.parent / name


TEMPLATES = _resources("templates")
RUNTIME_JS = _resources("runtime_js")
TEMPLATED = ("wbg-pool-manager.cjs", "wbg-pool-host.cjs", "wbg-pool-worker.cjs")
COPIED = ("wbg-pool-protocol.cjs", "wbg-pool-errors.cjs", "wbg-pool-manager.d.ts")
RUNTIME_FILES = TEMPLATED + COPIED


@dataclass(frozen=True)
class RuntimeConfig:
    """How the runtime is generated. The pool contract's export names default to
    rust_example's wbg-pool; an SDK with other names maps them here."""

    init_export: str = "initThreadPool"
    exit_export: str = "exitThreadPool"
    start_worker_export: str = "wbg_rayon_start_worker"
    heartbeat_timeout_ms: int = 5000
    idle_shutdown_ms: int = 1000
    num_threads: int = 0  # 0: available parallelism - 1, at least 1

    @classmethod
    def resolve(cls, overrides: dict[str, object], stored: dict[str, object] | None) -> "RuntimeConfig":
        """Options given now win, then those the glue was patched with, then defaults:
        re-running `wbg-patch patch` without options keeps what was chosen before."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in (stored or {}).items() if k in known}
        return cls(**{**kept, **{k: v for k, v in overrides.items() if v is not None}})

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def render(glue_path: Path, config: RuntimeConfig) -> dict[str, bytes]:
    """The runtime files for `glue_path`, by file name."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = {
        "version": __version__,
        "glue_require": f"./{glue_path.name}",
        "exports": {"init": config.init_export, "exit": config.exit_export, "start_worker": config.start_worker_export},
        "defaults": {
            "heartbeat_timeout_ms": config.heartbeat_timeout_ms,
            "idle_shutdown_ms": config.idle_shutdown_ms,
            "num_threads": config.num_threads,
        },
    }
    files: dict[str, bytes] = {}
    try:
        for name in TEMPLATED:
            files[name] = env.get_template(f"{name}.j2").render(context).encode("utf-8")
        for name in COPIED:
            files[name] = (RUNTIME_JS / name).read_bytes()
    except (jinja2.TemplateError, OSError) as e:
        raise InternalError(f"cannot render the runtime ({e}); is the wbg-patch installation complete?") from e
    return files


def check_exports(glue_exports: list[str], config: RuntimeConfig, glue_path: Path) -> None:
    """The pool contract must be exported by the glue, or the runtime fails at run time."""
    contract = (config.init_export, config.exit_export, config.start_worker_export)
    missing = [n for n in contract if n not in glue_exports]
    if missing:
        raise InputError(
            f"does not export {', '.join(missing)}: the cdylib must depend on the wbg-pool crate "
            "(or name its exports with --init-export/--exit-export/--start-worker-export)",
            glue_path,
        )


def plan(glue_path: Path, config: RuntimeConfig) -> dict[Path, bytes]:
    """Every file the runtime needs beside the glue, with its content: the
    runtime itself and, for a wasm-pack package, its package.json."""
    files = {glue_path.parent / name: content for name, content in render(glue_path, config).items()}
    manifest = glue_path.parent / "package.json"
    listed = _list_in_package_json(manifest)
    if listed is not None:
        files[manifest] = listed
    return files


def changed(files: dict[Path, bytes]) -> dict[Path, bytes]:
    """The planned files whose content on disk differs (or that are missing)."""
    return {p: c for p, c in files.items() if not (p.is_file() and p.read_bytes() == c)}


def _list_in_package_json(manifest: Path) -> bytes | None:
    """wasm-pack lists the files to publish in package.json; the runtime must be
    among them or `npm publish` would ship a package that cannot start its pool."""
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read it to list the runtime files: {e}", manifest) from e
    if not isinstance(data, dict):
        raise InputError("is not a JSON object; expected a package manifest", manifest)
    files = data.get("files")
    if not isinstance(files, list):
        return None
    added = [n for n in RUNTIME_FILES if n not in files]
    if not added:
        return manifest.read_bytes()
    data["files"] = files + added
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")
