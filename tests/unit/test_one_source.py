"""What two sides must agree on has one source, and the other side is checked
against it: every default and limit of the runtime (runtime_js/defaults.json)
as the TypeScript declarations state them, the names Rust calls the
runtime's hooks by (rust_example/pool/src/js.rs, runtime_js/protocol.cjs), and
where the patched module keeps its wait counters (wbg_patch/wasm/instrument.py)."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import ROOT
from wbg_patch.wasm import instrument

RUNTIME_JS = ROOT / "runtime_js"
SOURCE = json.loads((RUNTIME_JS / "defaults.json").read_text())


def declared_options() -> dict[str, str]:
    """ThreadPoolManagerOptions in manager.d.ts: option -> the text of its doc comment."""
    dts = (RUNTIME_JS / "manager.d.ts").read_text()
    block = dts[dts.index("export interface ThreadPoolManagerOptions {") :]
    block = block[: block.index("\n}\n")]
    return {name: doc for doc, name in re.findall(r"/\*\*((?:(?!\*/).)*)\*/\s*(\w+)\?:", block, re.DOTALL)}


def test_the_declared_defaults_are_the_runtimes():
    options = declared_options()
    assert set(options) == set(SOURCE["defaults"]) | {"onLog"}, "every option with a default is in defaults.json"
    for name, value in SOURCE["defaults"].items():
        stated = re.search(r"@default (\S+)", options[name])
        assert stated is not None, f"{name}: no @default in manager.d.ts"
        assert stated.group(1) == ("Infinity" if value is None else json.dumps(value)), name


def test_the_declared_limits_are_the_runtimes():
    limits = SOURCE["limits"]
    options = declared_options()
    assert f"from 1 to {limits['maxThreads']}" in options["numThreads"]
    assert f"At least {limits['minHeartbeatMs']} ms" in options["heartbeatTimeoutMs"]
    assert limits["maxTimerMs"] == 2**31 - 1 and "up to 2^31-1" in (RUNTIME_JS / "manager.d.ts").read_text()


def hook_names_of_rust() -> dict[str, str]:
    rust = (ROOT / "rust_example/pool/src/js.rs").read_text()
    module = rust[rust.index("mod hooks {") :]
    module = module[: module.index("\n}\n")]
    assert 'call_hook("' not in rust, "Rust names a hook by a string of its own"
    return dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', module))


def test_rust_calls_the_runtimes_hooks_by_the_names_the_runtime_installs():
    script = "const p = require('./runtime_js/protocol.cjs'); console.log(JSON.stringify({ GLOBAL: p.HOOKS_GLOBAL, ...p.Hook }))"
    js = json.loads(subprocess.run(["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    assert hook_names_of_rust() == js


def test_the_runtime_reads_the_wait_counters_where_the_patched_module_writes_them():
    script = "const p = require('./runtime_js/protocol.cjs'); console.log(JSON.stringify({ name: p.COUNT_WAITS_EXPORT, ...p.WaitCount }))"
    js = json.loads(subprocess.run(["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    assert js["name"] == instrument.EXPORT
    assert (js["SLEEPING"] * 4, js["CHANGES"] * 4) == (instrument._SLEEPING, instrument._CHANGES)


def test_the_runtime_forbids_waits_with_the_global_and_values_the_patched_module_reads():
    script = "const p = require('./runtime_js/protocol.cjs'); console.log(JSON.stringify({ name: p.NO_WAIT_EXPORT, ...p.NoWait }))"
    js = json.loads(subprocess.run(["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    assert js == {"name": instrument.NO_WAIT, "ALLOWED": 0, "FORBIDDEN": instrument.FORBIDDEN, "TRIPPED": instrument.TRIPPED}


def test_the_readme_documents_every_error_code_and_trap_kind_the_declarations_list():
    """manager.d.ts is what TypeScript users see; the README's error table must name the same."""
    dts = (RUNTIME_JS / "manager.d.ts").read_text()
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Method: `manager.execute(fn)`", 1)[1].split("\n## ", 1)[0]
    codes = set(re.findall(r"\bERR_[A-Z_]+", dts))
    kinds = set(re.findall(r"\|\s*'(\w+)'", dts.split("class WasmTrapError", 1)[1].split("readonly threadIndex", 1)[0]))
    assert "ERR_NOT_BOUND" in codes and "runtime_error" in kinds  # the parse reads the declarations
    assert not [c for c in sorted(codes) if f"`{c}`" not in table], "error codes missing from the README's table"
    assert not [k for k in sorted(kinds) if f"`{k}`" not in table], "trap kinds missing from the README's table"
