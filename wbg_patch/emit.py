"""Render the runtime that goes beside the patched glue, and plan its files.

The runtime is plain JS (``runtime_js/``), copied as it is into a ``wbg-pool/``
directory beside the glue. What differs per package — the glue's file name and
module format, its pool contract, the default options — goes into one small
entry file rendered from a jinja2 template (``wbg-pool-manager.cjs`` or
``.mjs``), with its type declarations beside it, where TypeScript looks.

Beside glue a browser loads (``--target web``), the runtime is instead its
ES-module build (esm_build.py): browsers cannot load CommonJS files, Node loads
the build as well, and one copy of the runtime serves both.

Nothing here writes: ``plan`` says which files the runtime needs with their
content, ``changed`` which of them differ on disk, and ``pipeline.run`` writes
them, after every check passed and before the glue.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from . import __version__
from . import esm_build
from .config import RUNTIME_JS, TEMPLATES, RuntimeConfig
from .errors import InputError, InternalError
from .model import Glue
from .target import loads_in_browsers

RUNTIME_DIR = "wbg-pool"
ENTRY = "wbg-pool-manager"
# npm reads a directory's .gitignore when it has no .npmignore, and wasm-pack writes one
# with `*` into pkg/: a package that ships the directory (an SDK's `"files": ["pkg"]`)
# then packs none of its files, silently. An .npmignore of its own makes npm skip that
# .gitignore, while git goes on ignoring the directory (`*` covers the new file too).
NPMIGNORE = ".npmignore"
NPMIGNORE_TEXT = b"# Written by wbg-patch: npm reads this file instead of wasm-pack's .gitignore (`*`),\n# which would leave every file here out of a package that ships this directory.\n"
NPMIGNORE_WHY = (
    f"adds {NPMIGNORE}: without it npm reads wasm-pack's .gitignore (`*`) here and leaves every file of this "
    "directory out of a package that ships it (`npm pack --dry-run` shows what ships)"
)
# Per layout of the runtime (see layout()): the entry's extension, and its declarations'.
EXTENSIONS = {"commonjs": ("cjs", "d.cts"), "esm": ("mjs", "d.mts"), "web": ("mjs", "d.mts")}


def layout(glue: Glue) -> str:
    """How the runtime goes beside this glue: "commonjs" or "esm" (its files, for Node,
    under the glue's module format) or "web" (its ES-module build, for browsers and Node)."""
    return "web" if loads_in_browsers(glue) else glue.module_format


def entry_files(layout: str) -> tuple[str, str]:
    """The entry file and its declarations, for this layout of the runtime."""
    js, types = EXTENSIONS[layout]
    return f"{ENTRY}.{js}", f"{ENTRY}.{types}"


def runtime_sources() -> list[Path]:
    """The runtime's JS modules and the defaults they read (defaults.json),
    relative to runtime_js/ (tests excluded)."""
    return sorted(
        p.relative_to(RUNTIME_JS)
        for pattern in ("*.cjs", "*.json")
        for p in RUNTIME_JS.rglob(pattern)
        if "test" not in p.relative_to(RUNTIME_JS).parts
    )


def runtime_files(layout: str) -> list[str]:
    """Every file the runtime puts beside glue of this layout, by path relative
    to the glue's directory."""
    if layout == "web":
        return [*entry_files(layout), *(f"{RUNTIME_DIR}/{name}" for name in esm_build.FILES)]
    return [*entry_files(layout), *(f"{RUNTIME_DIR}/{s.as_posix()}" for s in runtime_sources())]


def render(glue_path: Path, layout: str, config: RuntimeConfig, contract: str) -> dict[str, bytes]:
    """The runtime files for `glue_path`, by path relative to its directory."""
    entry, declarations = entry_files(layout)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = {
        "version": __version__,
        "glue_file": glue_path.name,
        "contract": {
            "kind": contract,
            "init": config.init_export,
            "exit": config.exit_export,
            "startWorker": config.start_worker_export,
        },
        "defaults": {
            "numThreads": config.num_threads,
            "heartbeatTimeoutMs": config.heartbeat_timeout_ms,
            "idleShutdownMs": config.idle_shutdown_ms,
        },
    }
    try:
        sources = {source.as_posix(): (RUNTIME_JS / source).read_bytes() for source in runtime_sources()}
        files = {declarations: (RUNTIME_JS / "manager.d.ts").read_bytes()}
        if layout == "web":
            context["public_names"] = esm_build.public_names(sources["manager.cjs"])
            files[entry] = env.get_template("wbg-pool-manager.web.mjs.j2").render(context).encode("utf-8")
            for name, content in esm_build.render(env, context, sources).items():
                files[f"{RUNTIME_DIR}/{name}"] = content
        else:
            files[entry] = env.get_template(f"{entry}.j2").render(context).encode("utf-8")
            for name, content in sources.items():
                files[f"{RUNTIME_DIR}/{name}"] = content
    except (jinja2.TemplateError, OSError, UnicodeDecodeError) as e:
        raise InternalError(f"cannot render the runtime ({e}); is the wbg-patch installation complete?") from e
    return files


def plan(glue_path: Path, layout: str, config: RuntimeConfig, contract: str) -> dict[Path, bytes]:
    """Every file the runtime needs beside the glue, with its content: the
    runtime itself and, for an npm package, its package.json (and an .npmignore
    where wasm-pack's .gitignore would keep npm from packing the directory), and
    the glue's declarations with the pool's init and exit exports marked."""
    files = {glue_path.parent / name: content for name, content in render(glue_path, layout, config, contract).items()}
    declarations = glue_path.with_suffix(".d.ts")
    if declarations.is_file():
        files[declarations] = _with_owned_exports_marked(declarations, (config.init_export, config.exit_export))
    manifest = glue_path.parent / "package.json"
    listed = _publish_in_package_json(manifest, layout)
    if listed is not None:
        files[manifest] = listed
    if _ignores_everything_for_npm(glue_path.parent):
        files[glue_path.parent / NPMIGNORE] = NPMIGNORE_TEXT
    return files


# The pool's init and exit exports stay in the glue's declarations (wasm-bindgen
# writes them), where editors offer them to the package's users: their doc comment
# says, as the wrappers do when called (ERR_POOL_OWNED_BY_RUNTIME), that they are the runtime's.
OWNED_EXPORT_DOC = (
    " * @deprecated The ThreadPoolManager owns the wasm thread pool: it starts the pool at the first execute() or run() "
    "and stops it. Calling this throws WbgPoolError ERR_POOL_OWNED_BY_RUNTIME.\n"
)


def _with_owned_exports_marked(declarations: Path, names: tuple[str, ...]) -> bytes:
    """`declarations` with OWNED_EXPORT_DOC last in the doc comment of each
    `export function <name>(` (in one of its own when it has none); once only."""
    try:
        lines = declarations.read_text().splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the glue's declarations: {e}", declarations) from e
    out: list[str] = []
    for line in lines:
        if line.startswith(tuple(f"export function {name}(" for name in names)) and OWNED_EXPORT_DOC not in out[-2:]:
            if out and out[-1].strip() == "*/":
                out.insert(len(out) - 1, OWNED_EXPORT_DOC)
            else:
                out += ["/**\n", OWNED_EXPORT_DOC, " */\n"]
        out.append(line)
    return "".join(out).encode()


def changed(files: dict[Path, bytes]) -> dict[Path, bytes]:
    """The planned files whose content on disk differs (or that are missing)."""
    return {p: c for p, c in files.items() if not (p.is_file() and p.read_bytes() == c)}


def _ignores_everything_for_npm(directory: Path) -> bool:
    """Whether npm would take wasm-pack's `*` .gitignore here as its ignore file."""
    gitignore = directory / ".gitignore"
    if (directory / NPMIGNORE).exists() or not gitignore.is_file():
        return False
    try:
        return gitignore.read_text(errors="replace").split() == ["*"]
    except OSError as e:
        raise InputError(f"cannot read it to see what npm would leave out: {e}", gitignore) from e


def _publish_in_package_json(manifest: Path, layout: str) -> bytes | None:
    """An npm package must ship the runtime and let its users import the entry:
    the runtime joins `files` when the package lists its files, and the entry
    joins `exports` when the package has an exports map (which would otherwise
    refuse the import with ERR_PACKAGE_PATH_NOT_EXPORTED). A package with
    neither needs no change."""
    if not manifest.exists():
        return None
    if not manifest.is_file():
        raise InputError("is not a regular file; expected a package manifest", manifest)
    try:
        original = manifest.read_bytes()
        data = json.loads(original.decode("utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read it to add the runtime: {e}", manifest) from e
    if not isinstance(data, dict):
        raise InputError("is not a JSON object; expected a package manifest", manifest)
    entry, declarations = entry_files(layout)
    updated = dict(data)
    files = data.get("files")
    if isinstance(files, list):
        updated["files"] = files + [n for n in (entry, declarations, RUNTIME_DIR) if n not in files]
    exports = data.get("exports")
    if exports is not None:
        updated["exports"] = _with_entry_export(exports, entry, declarations, manifest)
    if updated == data:
        return original
    return (json.dumps(updated, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _with_entry_export(exports: object, entry: str, declarations: str, manifest: Path) -> dict:
    """`exports` with the entry added under its own file name, the one import
    path that works with or without an exports map."""
    if isinstance(exports, (str, list)):
        exports = {".": exports}  # the shorthand for the main entry alone
    if not isinstance(exports, dict):
        raise InputError(f'has an "exports" field wbg-patch cannot extend ({type(exports).__name__})', manifest)
    if exports and not all(key.startswith(".") for key in exports):
        if any(key.startswith(".") for key in exports):
            raise InputError('mixes subpaths and conditions in "exports", which Node refuses; fix it first', manifest)
        exports = {".": exports}  # conditions of the main entry alone
    key = f"./{entry}"
    return {**exports, key: {"types": f"./{declarations}", "default": f"./{entry}"}}
