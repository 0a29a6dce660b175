"""The command line: parses arguments, runs the pipeline, maps errors to exit codes."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

from . import __version__, contract, doctor as setup, emit, esm_build, locate, panics, parse, pipeline
from .config import DEFAULTS, LIMITS, RuntimeConfig
from .errors import EXIT_CODES, InputError, InternalError, NotGlueError, PatchError, SetupError
from .marker import edited_after_patch
from .target import loads_in_browsers
from .wasm import ModuleInterface

EXIT_HELP = "Exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()) + "."

# Plain help (no Rich): Rich reads `[initThreadPool]` as markup and drops it,
# and tags every flag `<bool>`.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Rewrite wasm-bindgen glue so its Rayon pool runs in a Node worker, with panics, "
    "traps, hangs and logs reported to the main thread.\n\n" + EXIT_HELP,
)


class _UnixUsage(typer.core.TyperCommand):
    """Usage lines as Unix tools write them (`patch [OPTIONS] PATH`): Typer >= 0.25 writes a
    required argument as `{path}`, which reads like a placeholder left unfilled."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [piece.strip("{}").upper() for piece in super().collect_usage_pieces(ctx)]


def _reports_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PatchError as e:
            typer.echo(f"wbg-patch: error[{e.code}]: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except BrokenPipeError:
            # The reader closed the pipe (`wbg-patch ... | head`): stop quietly, as
            # coreutils do, and keep Python from failing again when it flushes at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            typer.echo("wbg-patch: interrupted; every file is either untouched or fully written", err=True)
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as e:  # a bug: say so plainly, without a traceback
            error = InternalError(f"{type(e).__name__}: {e} (please report this)")
            typer.echo(f"wbg-patch: error[{error.code}]: {error}", err=True)
            raise typer.Exit(error.exit_code) from None

    return run


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"wbg-patch {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


@app.command(cls=_UnixUsage)
@_reports_errors
def patch(
    path: Path = typer.Argument(..., help="A wasm-bindgen / wasm-pack output directory, or its glue .js/.cjs/.mjs."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 unless patched by this version, with these options and its runtime."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; say what would change."),
    diff: bool = typer.Option(False, "--diff", help="With --dry-run: print the glue's unified diff."),
    # Bounds and defaults from runtime_js/defaults.json, as the runtime has them: the longest a
    # Node timer waits, the shortest heartbeat whose progress CPU ticks can measure.
    heartbeat_timeout_ms: Optional[int] = typer.Option(
        None,
        min=LIMITS["minHeartbeatMs"],
        max=LIMITS["maxTimerMs"],
        help=f"Default heartbeatTimeoutMs of the manager (default: {DEFAULTS['heartbeatTimeoutMs']}).",
    ),
    idle_shutdown_ms: Optional[int] = typer.Option(
        None,
        min=0,
        max=LIMITS["maxTimerMs"],
        help=f"Default idleShutdownMs: pool lifetime after the last execute() (default: {DEFAULTS['idleShutdownMs']}).",
    ),
    num_threads: Optional[int] = typer.Option(
        None,
        min=0,
        max=LIMITS["maxThreads"],
        help=f"Default numThreads; 0: available parallelism, every core (default: {DEFAULTS['numThreads']}).",
    ),
    init_export: Optional[str] = typer.Option(None, help="Export that builds the pool (default: initThreadPool)."),
    exit_export: Optional[str] = typer.Option(None, help="Export that drops the pool (default: exitThreadPool)."),
    start_worker_export: Optional[str] = typer.Option(None, help="Export a pool worker runs (default: wbg_rayon_start_worker)."),
) -> None:
    """Patch the glue and write the runtime beside it (wbg-pool-manager.cjs or .mjs, its types, wbg-pool/).

    Options not given keep the values the glue was patched with before."""
    if diff and not dry_run:
        raise InputError("--diff goes with --dry-run")
    if check and dry_run:
        raise InputError("--check and --dry-run: pick one")
    mode = pipeline.Mode.CHECK if check else pipeline.Mode.DRY_RUN if dry_run else pipeline.Mode.PATCH
    overrides = {
        "heartbeat_timeout_ms": heartbeat_timeout_ms,
        "idle_shutdown_ms": idle_shutdown_ms,
        "num_threads": num_threads,
        "init_export": init_export,
        "exit_export": exit_export,
        "start_worker_export": start_worker_export,
    }
    outcomes = [pipeline.run(file, overrides, mode, with_diff=diff) for file in pipeline.find_glue(path)]
    for outcome in outcomes:
        typer.echo(f"{outcome.file}: {outcome.message}", err=not outcome.ok)
        sys.stdout.writelines(outcome.diff)
    sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command(cls=_UnixUsage)
@_reports_errors
def inspect(
    path: Path = typer.Argument(..., help="A wasm-bindgen output directory or glue file."),
    exports: bool = typer.Option(False, "--exports", help="List every export of the module: whether it can wait for another thread, and why."),
) -> None:
    """Print what wbg-patch finds in the glue: the first thing to run when a patch is refused."""
    for file in pipeline.find_glue(path):
        model = parse.read(file)
        typer.echo(f"{file}")
        typer.echo(f"  module format: {model.module_format}")
        try:
            locate.locate(model)
        except PatchError as e:
            typer.echo(f"  wasm binding: {'line ' + str(model.line(model.wasm_declaration)) if model.wasm_declaration else 'not found'}")
            # Any JS parses as some target; only wasm-bindgen glue has one.
            target = "none: not wasm-bindgen glue" if isinstance(e, NotGlueError) else model.target or "unknown"
            typer.echo(f"  target: {target}")
            typer.echo(f"  patchable: no: {e}")
            raise typer.Exit(e.exit_code) from None
        typer.echo(f"  patched: {'by wbg-patch ' + model.patched_by if model.patched_by else 'no'}")
        if model.patch_config is not None:
            typer.echo(f"  patched with: {RuntimeConfig.resolve({}, model.patch_config).as_flags()}")
            typer.echo(f"  edited since: {edited_after_patch(model) or 'no'}")
        typer.echo(f"  target: {model.target}")
        if loads_in_browsers(model):
            typer.echo(f"  browsers: load it, and Node: the runtime is its ES-module build ({emit.RUNTIME_DIR}/{esm_build.BUILD})")
        typer.echo(f"  generation: {model.generation.value if model.generation else 'unknown (patched by another version)'}")
        typer.echo(f"  wasm declared: line {model.line(model.wasm_declaration)}; assigned: lines {', '.join(str(n) for n in sorted(model.line(a) for a in model.wasm_assignments))}")
        typer.echo(f"  wasm member reads: {len(model.wasm_member_reads)}")
        if model.memory is not None:
            m = model.memory
            typer.echo(f"  memory import: {m.module}.{m.name} initial {m.initial} maximum {m.maximum} pages, shared: {m.shared} (from {model.wasm_file.name})")
        if model.memory_site is not None:
            typer.echo(f"  memory site: line {model.line(model.memory_site)}: {model.text(model.memory_site)}")
        config = RuntimeConfig.resolve({}, model.patch_config)
        refused = None
        kind = None
        try:
            kind = pipeline.contract_of(model, config).kind
            typer.echo(f"  pool contract: {contract.DESCRIPTION[kind]}")
        except PatchError as e:
            refused = e
            typer.echo(f"  pool contract: refused: {e}")
        _print_waits(locate.read_module(model), kind, exports)
        if model.panics is not None:
            typer.echo(f"  panics: {model.panics} — {panics.MEANING[model.panics]}")
        if model.panics_reason is not None:
            typer.echo(f"  panics, why: {model.panics_reason}")
        entry, declarations = emit.entry_files(emit.layout(model))
        typer.echo(f"  runtime: {entry} (import ThreadPoolManager from it), {declarations}, {emit.RUNTIME_DIR}/")
        typer.echo(f"  exports ({len(model.exports)}): {', '.join(model.exports)}")
        if refused is not None:
            raise typer.Exit(refused.exit_code)


def _print_waits(module: ModuleInterface | None, kind: contract.Kind | None, each: bool) -> None:
    """Where each export's calls run (wasm/waits.py): inside execute() on the caller's
    instance or on the pool's host (runtime_js/proxy.cjs), and outside execute() under
    this contract (runtime_js/route.cjs)."""
    waits = module.waits if module is not None else None
    if waits is None:
        what = "no module beside the glue" if module is None else "the module's code could not be decoded"
        typer.echo(f"  calls: unknown ({what}): every export counts as one that can wait, and goes to the pool's host")
        return
    total, local, bound = len(waits.exports), len(waits.local), len(waits.bound_only)
    typer.echo(
        f"  calls: {local} of {total} exported functions run on the caller's instance inside execute(); the pool's host runs "
        f"{total - local - bound} that can wait for another thread and {bound} that use what each thread has its own of"
    )
    if kind in contract.MAIN_THREAD_JOINS:
        typer.echo("  outside execute(): the main thread's calls would join the pool while it is up; those that can wait go to it then")
    elif kind is not None:
        typer.echo("  outside execute(): calls run on the main thread's own instance (the pool is entered only on its host)")
    if waits.cut:
        typer.echo(
            f"  left out: the code that runs only once a panic or a failed allocation began ({', '.join(waits.cut)}); "
            "a wait there traps on the main thread's instance"
        )
    elif module.waits_counted is None and module.not_counted is not None:
        typer.echo("  left out: nothing (the module cannot be rewritten to trap a wait there: see waits counted)")
    elif module.waits_counted is None:
        typer.echo("  left out: nothing (the module has no wait)")
    else:
        typer.echo("  left out: nothing (std's panic machinery not found by name: a stripped module?)")
    if each:
        for name in waits.exports:
            reason = waits.reason(name)
            typer.echo(f"    {name}: {'local' if reason is None else f'pool: {reason}'}")
    if module.waits_counted:
        counting = "yes (a browser tells a deadlocked pool from a busy one by them)"
    elif module.counted is not None:
        counting = f"not yet: the patch makes the module count them ({module.counted.waits} waits in {module.counted.functions} functions)"
    elif module.not_counted is not None:
        counting = f"no, and the patch leaves them ({module.not_counted}): in a browser only callTimeoutMs ends a deadlock"
    else:
        counting = "nothing to count (the module has no wait)"
    typer.echo(f"  waits counted: {counting}")


@app.command(
    epilog=f"Exit codes: 0 every check ok (warnings are harmless); {SetupError.exit_code} a build would fail or silently "
    f"degrade; {InputError.exit_code} no crate or glue at PATH, an unreadable Cargo.toml or cargo config, or a --config cargo "
    "would refuse."
)
@_reports_errors
def doctor(
    path: Path = typer.Argument(Path("."), help="A crate directory (with Cargo.toml), or a wasm-pack pkg/ or glue (then also the crate above it)."),
    config: Optional[list[str]] = typer.Option(
        None, "--config", metavar="KEY=VALUE|PATH",
        help="A --config the build passes to cargo, as cargo takes it (repeatable): "
        "--config 'profile.release.panic=\"unwind\"', or a TOML file.",
    ),
    check_unwind: bool = typer.Option(
        False, "--check-unwind",
        help="Also compile the crate for panic=unwind (cargo check: a minute or two the first time, seconds after): "
        "each type an unwind build rejects at an export, one line with its fix.",
    ),
) -> None:
    """Check a crate's setup before a build: wasm-bindgen lock vs CLI, thread flags, panic strategy, pool
    contract, run_in_pool, Node, toolchain. One line per check, the fix for each problem; builds nothing."""
    subject, findings = setup.diagnose(path, config=config or (), check_unwind=check_unwind)
    for line in setup.render(subject, findings):
        typer.echo(line)
    failed = [f.check for f in findings if f.level == setup.ERROR]
    if failed:
        raise SetupError(f"{', '.join(failed)}: a build would fail or silently degrade; the fixes are above")


def main() -> None:
    app()
