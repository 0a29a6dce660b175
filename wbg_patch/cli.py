"""The command line: parses arguments, runs the pipeline, maps errors to exit codes."""

from __future__ import annotations

import difflib
import functools
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

from . import __version__, emit, glue, rewrite
from .errors import EXIT_CODES, AlreadyPatchedError, InputError, PatchError
from .safe_write import directory_lock, write_atomically

EXIT_HELP = "Exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()) + "."

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Rewrite wasm-bindgen glue so its Rayon pool runs in a Node worker, with panics, "
    "traps, hangs and logs reported to the main thread.\n\n" + EXIT_HELP,
)


def _reports_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PatchError as e:
            typer.echo(f"wbg-patch: error[{e.code}]: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("wbg-patch: interrupted; files are either untouched or fully written", err=True)
            raise typer.Exit(130) from None

    return run


def _glue_files(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError("no such file or directory", path)
    if path.is_dir():
        found = glue.find_glue_files(path)
        if not found:
            raise InputError(
                "has no wasm-bindgen glue (looked for <name>.js, .cjs or .mjs beside <name>_bg.wasm)", path
            )
        return found
    if path.suffix not in glue.GLUE_SUFFIXES:
        raise InputError(f"is not a .js, .cjs or .mjs file; pass the glue or its directory", path)
    return [path]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"wbg-patch {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


@app.command()
@_reports_errors
def patch(
    path: Path = typer.Argument(..., help="A wasm-bindgen / wasm-pack output directory, or its glue .js/.cjs/.mjs."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 unless patched by this version with its runtime."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; say what would change."),
    diff: bool = typer.Option(False, "--diff", help="With --dry-run: print the glue's unified diff."),
    heartbeat_timeout_ms: int = typer.Option(5000, min=1, help="Default ThreadPoolManager heartbeatTimeoutMs."),
    idle_shutdown_ms: int = typer.Option(1000, min=0, help="Default idleShutdownMs: pool lifetime after the last execute()."),
    num_threads: int = typer.Option(0, min=0, max=256, help="Default numThreads (0: available parallelism - 1)."),
    init_export: str = typer.Option("initThreadPool", help="Export that builds the pool."),
    exit_export: str = typer.Option("exitThreadPool", help="Export that drops the pool."),
    start_worker_export: str = typer.Option("wbg_rayon_start_worker", help="Export a pool worker runs."),
) -> None:
    """Patch the glue and write the runtime (manager, host, worker) beside it."""
    if diff and not dry_run:
        raise InputError("--diff goes with --dry-run")
    config = emit.RuntimeConfig(
        exports=emit.ExportNames(init_export, exit_export, start_worker_export),
        heartbeat_timeout_ms=heartbeat_timeout_ms,
        idle_shutdown_ms=idle_shutdown_ms,
        num_threads=num_threads,
    )
    stale = []
    for file in _glue_files(path):
        with directory_lock(file.parent):
            model = glue.locate(glue.read(file))
            if model.patched_by not in (None, __version__):
                raise AlreadyPatchedError(
                    f"was patched by wbg-patch {model.patched_by}; regenerate it with wasm-bindgen and patch again",
                    file,
                )
            emit.check_exports(model.exports, config, file)
            if check:
                if model.patched_by is None or not emit.is_current(file, config):
                    stale.append(file)
                continue
            if model.patched_by == __version__:
                changed = [] if dry_run else emit.emit(file, config)
                typer.echo(f"{file}: already patched by wbg-patch {__version__}" + (f"; refreshed {len(changed)} runtime file(s)" if changed else ""))
                continue
            patched = rewrite.patch(model)
            if dry_run:
                typer.echo(f"{file}: would patch ({model.generation.value}): {len(model.wasm_member_reads)} `wasm` reads, memory import at line {model.line(model.memory_site)}; would write {len(emit.RUNTIME_FILES)} runtime files")
                if diff:
                    sys.stdout.writelines(
                        difflib.unified_diff(
                            model.source.decode().splitlines(keepends=True),
                            patched.decode().splitlines(keepends=True),
                            str(file),
                            f"{file} (patched)",
                        )
                    )
                continue
            write_atomically(file, patched)
            written = emit.emit(file, config)
            typer.echo(f"{file}: patched ({model.generation.value}); wrote {', '.join(p.name for p in written) or 'no runtime changes'}")
    if stale:
        for file in stale:
            typer.echo(f"{file}: not patched by wbg-patch {__version__} (or its runtime is missing or stale)", err=True)
        raise typer.Exit(1)
    if check:
        typer.echo("patched by wbg-patch " + __version__)


@app.command()
@_reports_errors
def inspect(path: Path = typer.Argument(..., help="A wasm-bindgen output directory or glue file.")) -> None:
    """Print what wbg-patch finds in the glue: the first thing to run when a patch is refused."""
    for file in _glue_files(path):
        model = glue.read(file)
        typer.echo(f"{file}")
        typer.echo(f"  module format: {model.module_format}")
        try:
            glue.locate(model)
        except PatchError as e:
            typer.echo(f"  wasm binding: {'line ' + str(model.line(model.wasm_declaration)) if model.wasm_declaration else 'not found'}")
            typer.echo(f"  patchable: no: {e}")
            raise typer.Exit(e.exit_code) from None
        typer.echo(f"  patched: {'by wbg-patch ' + model.patched_by if model.patched_by else 'no'}")
        typer.echo(f"  generation: {model.generation.value if model.generation else 'n/a (already patched)'}")
        typer.echo(f"  wasm declared: line {model.line(model.wasm_declaration)}; assigned: lines {', '.join(str(model.line(a)) for a in model.wasm_assignments)}")
        typer.echo(f"  wasm member reads: {len(model.wasm_member_reads)}")
        if model.memory is not None:
            m = model.memory
            typer.echo(f"  memory import: {m.module}.{m.name} initial {m.initial} maximum {m.maximum} pages, shared: {m.shared} (from {model.wasm_file.name})")
        if model.memory_site is not None:
            typer.echo(f"  memory site: line {model.line(model.memory_site)}: {model.text(model.memory_site)}")
        contract = emit.ExportNames()
        present = [n for n in (contract.init, contract.exit, contract.start_worker) if n in model.exports]
        typer.echo(f"  pool contract exports: {', '.join(present) or 'none'}")
        typer.echo(f"  exports ({len(model.exports)}): {', '.join(model.exports)}")


def main() -> None:
    app()
