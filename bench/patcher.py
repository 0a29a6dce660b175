"""Patcher timings for bench/run.cjs: in-process parse + locate + rewrite, and
CLI wall time, on the largest fixture and on a ~300 KB glue file generated from
a crate with many exports; the classification of the exports (wasm/waits.py) on
the largest module built here. Prints JSON; progress goes to stderr."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from wbg_patch import locate, parse, pipeline, rewrite  # noqa: E402
from wbg_patch.config import RuntimeConfig  # noqa: E402
from wbg_patch.wasm import decode_bodies, read_module  # noqa: E402
from wbg_patch.wasm.waits import classify  # noqa: E402

MANY = ROOT / "build" / "bench-many"
EXPORTS = 500


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def many_exports_glue() -> Path:
    """Builds (once) a cdylib with EXPORTS string/bytes exports and returns its glue."""
    out = MANY / "pkg" / "many_exports.js"
    src = MANY / "src"
    body = ["use wasm_bindgen::prelude::*;", "pub use wbg_pool::{exit_thread_pool, init_thread_pool};"]
    for i in range(EXPORTS):
        body.append(
            f"#[wasm_bindgen] pub fn export_{i}(name: &str, count: u32, data: &[u8]) -> String "
            f'{{ format!("{{name}}{{count}}{{}}", data.len() + {i}) }}'
        )
    source = "\n".join(body) + "\n"
    if out.is_file() and (src / "lib.rs").is_file() and (src / "lib.rs").read_text() == source:
        return out
    progress(f"building a crate with {EXPORTS} exports for a large glue file (once, ~2 min)")
    src.mkdir(parents=True, exist_ok=True)
    (MANY / "Cargo.toml").write_text(
        '[package]\nname = "many-exports"\nversion = "0.0.0"\nedition = "2021"\n\n[lib]\ncrate-type = ["cdylib"]\n\n'
        f'[dependencies]\nwasm-bindgen = "=0.2.129"\nwbg-pool = {{ path = "{ROOT / "rust_example/pool"}" }}\n\n'
        '[profile.release]\npanic = "abort"\n\n[workspace]\n'
    )
    shutil.copy(ROOT / "rust_example/Cargo.lock", MANY / "Cargo.lock")
    (src / "lib.rs").write_text(source)
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    subprocess.run(
        ["cargo", "+debian-web", "build", "--quiet", "--release", "--target", "wasm32-unknown-unknown",
         "-Z", "build-std=panic_abort,std", "--config", str(ROOT / "rust_example/.cargo/config.toml")],
        cwd=MANY, env=env, check=True,
    )
    wasm_bindgen = next((ROOT / ".tools").glob("wasm-bindgen-0.2.129/bin/wasm-bindgen"))
    subprocess.run(
        [str(wasm_bindgen), "--target", "nodejs", "--out-dir", str(MANY / "pkg"),
         str(MANY / "target/wasm32-unknown-unknown/release/many_exports.wasm")],
        check=True,
    )
    return out


def timed(fn, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def figure(label: str, samples: list[float], note: str = "") -> dict:
    return {"label": label, "median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples), "unit": "ms", "note": note}


def patch_in_process(path: Path) -> bytes:
    """read -> locate -> contract -> rewrite, as `wbg-patch patch` does, without writing."""
    model, config = locate.locate(parse.read(path)), RuntimeConfig()
    return rewrite.patch(model, config, pipeline.contract_of(model, config))


def main() -> None:
    # The demo's own glue, as the 0.2.129 nodejs fixture is (the fixtures keep no .wasm).
    largest_fixture = ROOT / "build/pkg-unpatched/wbg_demo.js"
    large = many_exports_glue()
    figures = {}
    for key, path in (("fixture", largest_fixture), ("large", large)):
        size = f"{path.stat().st_size // 1024} KB"
        in_process = timed(lambda: patch_in_process(path), 20)
        figures[f"patch_inprocess_{key}_ms"] = figure(f"patch in-process, {path.name} ({size})", in_process)
        cli = timed(lambda: subprocess.run([str(ROOT / ".venv/bin/wbg-patch"), "patch", "--dry-run", str(path)],
                                           check=True, capture_output=True), 5)
        figures[f"patch_cli_{key}_ms"] = figure(f"wbg-patch CLI wall time, {path.name} ({size})", cli, "--dry-run; includes Python start")
    # The module's code read and decoded, and every export classified, on the largest module here.
    module_path = max(ROOT.glob("build/*-unpatched/*_bg.wasm"), key=lambda p: p.stat().st_size)
    mb = module_path.stat().st_size / 1e6
    classified = timed(lambda: classify((m := read_module(module_path)), decode_bodies(m), cut_failure_paths=True), 10)
    label = f"classify every export, {module_path.parent.name}/{module_path.name} ({mb:.2f} MB): read, decode, call graph"
    figures["classify_ms"] = figure(label, classified)
    per_5mb = [t * 5 / mb for t in classified]
    figures["classify_per_5mb_ms"] = figure("classify, scaled to 5 MB of wasm", per_5mb, "goal <= 1000 ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
