"""One glue file through the whole pipeline, under its directory's lock:
read -> locate -> rewrite -> emit -> check (V8) -> write. The steps before only compute;
every write is here. The CLI only reports what it returns."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from . import __version__, contract, emit, locate, panics, parse, rewrite, v8check
from .config import RuntimeConfig
from .errors import AlreadyPatchedError, InputError
from .marker import edited_after_patch
from .model import Glue
from .safe_write import check_writable, directory_lock, write_atomically


class Mode(Enum):
    PATCH = "patch"
    CHECK = "check"  # change nothing; say whether the glue is patched as asked
    DRY_RUN = "dry-run"  # change nothing; say what would change


@dataclass
class Outcome:
    file: Path
    ok: bool  # for CHECK: patched as asked; otherwise always True
    message: str
    diff: list[str] = field(default_factory=list)


def find_glue(path: Path) -> list[Path]:
    """The glue files a path names. The runtime files are per directory, so a
    directory may hold only one glue: two would take each other's runtime."""
    if not path.exists():
        raise InputError("no such file or directory", path)
    directory = path if path.is_dir() else path.parent
    if not path.is_dir() and path.suffix not in parse.GLUE_SUFFIXES:
        raise InputError("is not a .js, .cjs or .mjs file; pass the glue or its directory", path)
    found = parse.find_glue_files(directory)
    if path.is_dir() and not found:
        raise InputError("has no wasm-bindgen glue (looked for <name>.js, .cjs or .mjs beside <name>_bg.wasm)", path)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(
            f"holds {len(found)} wasm-bindgen packages ({names}); the runtime files are per directory, "
            "so give each package a directory of its own",
            directory,
        )
    return [path] if not path.is_dir() else found


def contract_of(model: Glue, config: RuntimeConfig) -> contract.Contract:
    """The pool contract of a located glue: detected in unpatched glue, read
    from the marker of patched glue; raises ContractError for one the runtime
    could not drive. The model is left as it was: the rewrite takes the
    contract as an argument."""
    names = contract.Names(config.init_export, config.exit_export, config.start_worker_export)
    if model.patched_by is not None:
        return contract.Contract(contract.check_patched(model, names))
    return contract.detect(model, names)


def run(file: Path, overrides: dict[str, object], mode: Mode, with_diff: bool = False) -> Outcome:
    with directory_lock(file.parent):
        model = locate.locate(parse.read(file))
        if model.patched_by not in (None, __version__):
            raise AlreadyPatchedError(
                f"was patched by wbg-patch {model.patched_by}; regenerate it with wasm-bindgen and patch again", file
            )
        edited = edited_after_patch(model) if model.patched_by is not None else None
        if edited is not None and mode is not Mode.CHECK:
            raise AlreadyPatchedError(f"{edited}; regenerate it with wasm-bindgen and patch again", file)
        config = RuntimeConfig.resolve(overrides, model.patch_config)
        found = contract_of(model, config)
        runtime = emit.plan(file, emit.layout(model), config, found.kind.value)

        if model.patched_by is None:
            unwind = f", panics {panics.UNWIND}" if model.panics == panics.UNWIND else ""
            source = rewrite.patch(model, config, found)
            what = f"patched ({model.generation.value}, {model.target}, contract {found.kind.value}{unwind})"
        elif model.patch_config != config.to_json():
            source, what = rewrite.reconfigure(model, config), "options changed"
        else:
            source, what = model.source, f"already patched by wbg-patch {__version__}"
        stale = emit.changed(runtime)
        # The module, made to count its waits (wasm/instrument.py), goes with the runtime:
        # a patch of glue that was patched before the module was counts it too.
        module = locate.read_module(model)
        if module is not None and module.counted is not None and model.wasm_file is not None:
            stale[model.wasm_file] = module.counted.data
        if file.parent / emit.NPMIGNORE in stale:
            what = f"{what}; {emit.NPMIGNORE_WHY}"

        if mode is Mode.CHECK:
            if model.patched_by is None:
                return Outcome(file, False, f"not patched by wbg-patch {__version__}")
            if edited is not None:
                return Outcome(file, False, edited)
            if source != model.source:
                stored = RuntimeConfig.resolve({}, model.patch_config)
                return Outcome(file, False, f"patched with other options: {stored.as_flags()}; asked for: {config.as_flags()}")
            if stale:
                return Outcome(file, False, f"runtime missing or stale: {', '.join(_relative(p, file) for p in stale)}")
            return Outcome(file, True, f"patched by wbg-patch {__version__}")

        # V8 checks what a patch would write before any of it is written, in a dry run too:
        # it says what the patch would do, a refusal included.
        targets = {**stale, **({file: source} if source != model.source else {})}
        note = v8check.check(targets, model)
        if note is not None:
            what = f"{what}; {note}"

        if mode is Mode.DRY_RUN:
            diff = []
            if with_diff:
                diff = list(
                    difflib.unified_diff(
                        model.source.decode().splitlines(keepends=True),
                        source.decode().splitlines(keepends=True),
                        str(file),
                        f"{file} (patched)",
                    )
                )
            would = "nothing to change" if source == model.source and not stale else f"would write {len(stale) + (source != model.source)} file(s)"
            return Outcome(file, True, f"{what}; {would}", diff)

        # The glue is written last: a glue marked patched always has its runtime,
        # and any failure before that leaves the input as it was.
        for target in targets:
            check_writable(target)
        for target, content in stale.items():
            write_atomically(target, content)
        if source != model.source:
            write_atomically(file, source)
        wrote = ", ".join(_relative(p, file) for p in targets) or "nothing"
        return Outcome(file, True, f"{what}; wrote {wrote}")


def _relative(path: Path, glue_file: Path) -> str:
    return path.relative_to(glue_file.parent).as_posix()
