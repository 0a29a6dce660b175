"""The real pipeline (cargo -> wasm-bindgen -> wbg-patch) under Node."""

from __future__ import annotations

import json
import subprocess
import time

from conftest import BUILD, ROOT, wasm_bindgen_output

PATCHED = BUILD / "pkg"

# Calls every export shape on the glue outside any pool; prints the results as JSON.
SINGLE_THREADED = r"""
const g = require(process.argv[1]);
const h = new g.Histogram(4);
h.add(new Uint8Array([0, 64, 128, 255, 255]));
let error;
try { g.checked_mean(new Float64Array([])); } catch (e) { error = e.message; }
const out = {
  sum: g.collatz_sum(50000), threads: g.pool_threads(), shout: g.shout('aé漢'),
  xor: Array.from(g.xor_bytes(new Uint8Array([1, 2, 3]), 7)), squares: String(g.sum_squares(12345n)),
  range: String(g.sum_range(-3n, 10n)), some: g.first_multiple(9, 10, 30), none: g.first_multiple(9, 1, 5) ?? null,
  mean: g.checked_mean(new Float64Array([1, 2])), error, total: h.total, bucket: h.bucket(3), type: g.js_type_of(() => 1),
};
h.free();
process.stdout.write(JSON.stringify(out));
"""


def node(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", *args], capture_output=True, text=True, timeout=timeout)


def test_module_imports_shared_memory_and_exports_the_pool_contract():
    script = r"""
    const fs = require('fs');
    const m = new WebAssembly.Module(fs.readFileSync(process.argv[1]));
    const imports = WebAssembly.Module.imports(m).filter((i) => i.kind === 'memory');
    const exports = WebAssembly.Module.exports(m).map((e) => e.name);
    const link = (shared) => {
      const memory = new WebAssembly.Memory({ initial: 18, maximum: 16384, shared });
      const stubs = {};
      for (const i of WebAssembly.Module.imports(m)) (stubs[i.module] ??= {})[i.name] = i.kind === 'memory' ? memory : () => {};
      try { new WebAssembly.Instance(m, stubs); return 'ok'; } catch (e) { return e.constructor.name + ': ' + e.message; }
    };
    process.stdout.write(JSON.stringify({ imports, exports, shared: link(true), unshared: link(false) }));
    """
    result = node("-e", script, str(PATCHED / "wbg_demo_bg.wasm"))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert [i["name"] for i in info["imports"]] == ["memory"]
    for name in ["initThreadPool", "exitThreadPool", "wbg_rayon_start_worker", "__wbindgen_start", "__wbindgen_thread_destroy"]:
        assert name in info["exports"], name
    assert info["shared"] == "ok"
    # Only a shared memory links: the import is declared shared.
    assert info["unshared"].startswith("LinkError") and "shared" in info["unshared"]


def test_patched_glue_runs_single_threaded_exactly_as_the_unpatched_one():
    before = node("-e", SINGLE_THREADED, str(wasm_bindgen_output() / "wbg_demo.js"))
    after = node("-e", SINGLE_THREADED, str(PATCHED / "wbg_demo.js"))
    assert before.returncode == 0, before.stderr
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(after.stdout)["threads"] == 1


def test_demo_prints_the_result_and_logs_from_several_pool_threads():
    result = node(str(ROOT / "rust_example/demo/js/demo.cjs"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "collatz_sum(3000000) = 428343467" in result.stdout
    threads = {line.split("pool thread ")[1].split("]")[0] for line in result.stderr.splitlines() if line.startswith("[wasm info pool thread")}
    assert len(threads) >= 2, result.stderr


def test_demo_with_panic_reports_it_and_exits_1_quickly():
    started = time.monotonic()
    result = node(str(ROOT / "rust_example/demo/js/demo.cjs"), "--panic", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "Rust panicked on pool thread" in result.stderr
    assert "demo panic at index 5000" in result.stderr
    assert "location: demo/src/lib.rs:" in result.stderr
    assert elapsed < 10
