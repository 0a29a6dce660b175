"""The runtime's options as the patcher sees them, and where its files live.

Every default and limit of the options comes from ``runtime_js/defaults.json``,
the file the runtime itself reads: the CLI's bounds and help, the options
stored in the glue, and the runtime cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path


def _resources(name: str) -> Path:
    """`templates/` or `runtime_js/`: inside the package when installed from the
    wheel (see pyproject.toml), beside it in a source checkout."""
    package = Path(__file__).resolve().parent
    inside = package / name
    return inside if inside.is_dir() else package.parent / name


TEMPLATES = _resources("templates")
RUNTIME_JS = _resources("runtime_js")
# Read once, at import: the CLI's option declarations need them before any command runs.
_DEFAULTS_FILE = json.loads((RUNTIME_JS / "defaults.json").read_text(encoding="utf-8"))
DEFAULTS: dict[str, int | bool | None] = _DEFAULTS_FILE["defaults"]  # None: Infinity (never)
LIMITS: dict[str, int] = _DEFAULTS_FILE["limits"]


@dataclass(frozen=True)
class RuntimeConfig:
    """How the runtime is generated. The pool contract's export names default to
    the names every known contract uses; an SDK with other names maps them here."""

    init_export: str = "initThreadPool"
    exit_export: str = "exitThreadPool"
    start_worker_export: str = "wbg_rayon_start_worker"
    heartbeat_timeout_ms: int = DEFAULTS["heartbeatTimeoutMs"]
    idle_shutdown_ms: int = DEFAULTS["idleShutdownMs"]
    num_threads: int = DEFAULTS["numThreads"]  # 0: available parallelism (every core), at least 1

    @classmethod
    def resolve(cls, overrides: dict[str, object], stored: dict[str, object] | None) -> "RuntimeConfig":
        """Options given now win, then those the glue was patched with, then defaults:
        re-running `wbg-patch patch` without options keeps what was chosen before."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in (stored or {}).items() if k in known}
        return cls(**{**kept, **{k: v for k, v in overrides.items() if v is not None}})

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def as_flags(self) -> str:
        """The options as the command line spells them, for messages."""
        return " ".join(f"--{name.replace('_', '-')} {value}" for name, value in asdict(self).items())
