"""Write the runtime (manager, host, worker) beside the patched glue.

The thread-role files are jinja2 templates configured per glue file; the
protocol, errors and type declarations are plain files copied as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import __version__
from .errors import InputError, InternalError
from .safe_write import write_atomically

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
class ExportNames:
    """The Rust pool contract's export names in the glue (defaults: rust_example's wbg-pool)."""

    init: str = "initThreadPool"
    exit: str = "exitThreadPool"
    start_worker: str = "wbg_rayon_start_worker"


@dataclass(frozen=True)
class RuntimeConfig:
    exports: ExportNames = ExportNames()
    heartbeat_timeout_ms: int = 5000
    idle_shutdown_ms: int = 1000
    num_threads: int = 0  # 0: available parallelism - 1, at least 1


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
        "exports": config.exports,
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
    missing = [n for n in (config.exports.init, config.exports.exit, config.exports.start_worker) if n not in glue_exports]
    if missing:
        raise InputError(
            f"does not export {', '.join(missing)}: the cdylib must depend on the wbg-pool crate "
            "(or name its exports with --init-export/--exit-export/--start-worker-export)",
            glue_path,
        )


def is_current(glue_path: Path, config: RuntimeConfig) -> bool:
    """Whether the runtime beside the glue is exactly what this version emits."""
    return all(
        (glue_path.parent / name).is_file() and (glue_path.parent / name).read_bytes() == content
        for name, content in render(glue_path, config).items()
    )


def emit(glue_path: Path, config: RuntimeConfig) -> list[Path]:
    """Writes the runtime beside the glue; returns the files it changed."""
    written = []
    for name, content in render(glue_path, config).items():
        target = glue_path.parent / name
        if target.is_file() and target.read_bytes() == content:
            continue  # a second run changes nothing on disk
        write_atomically(target, content)
        written.append(target)
    _list_in_package_json(glue_path.parent, list(RUNTIME_FILES))
    return written


def _list_in_package_json(directory: Path, names: list[str]) -> None:
    """wasm-pack lists the files to publish in package.json; the runtime must be
    among them or `npm publish` would ship a package that cannot start its pool."""
    manifest = directory / "package.json"
    if not manifest.is_file():
        return
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read package.json to list the runtime files: {e}", manifest) from e
    files = data.get("files")
    if not isinstance(files, list):
        return
    added = [n for n in names if n not in files]
    if added:
        data["files"] = files + added
        write_atomically(manifest, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
