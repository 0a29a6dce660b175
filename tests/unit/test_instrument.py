"""The module made to count its waits (wbg_patch/wasm/instrument.py): every wait
becomes a call of the same length, nothing else in the code moves, V8 accepts
the result, the helpers wait as the instructions did (memory argument included)
and count only the sleeps without a timeout of a thread that counts, and trap
where their instance's waits are forbidden; a counted module is not counted
again, and the patch writes it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import wbg_patch.wasm as wasm_package
from conftest import run_cli, snapshot, uleb, wasm_bindgen_output
from test_patch_fixtures import section, wasm_string
from wbg_patch import pipeline
from wbg_patch.errors import RefusedByV8Error
from wbg_patch.wasm import instrument, read_interface, read_module
from wbg_patch.wasm.code import decode_body
from wbg_patch.wasm.sections import CODE_SECTION, Module

I32, I64 = 0x7F, 0x7E


def wait_module(with_global: bool, imported_global: bool, *, allocator: bool = True, functions: int = 2, custom: bytes = b"") -> bytes:
    """A shared memory and two exports: wait32 (offset 8) and wait64 (offset 0), each
    taking (address, expected, timeout) and returning the wait's result; and the
    allocator export the runtime keeps the counters with (here any function)."""
    wait32 = b"\x00\x20\x00\x20\x01\x20\x02\xfe\x01" + uleb(2) + uleb(8) + b"\x0b"
    wait64 = b"\x00\x20\x00\x20\x01\x20\x02\xfe\x02" + uleb(3) + uleb(0) + b"\x0b"
    imports = [wasm_string("env") + wasm_string("memory") + b"\x02\x03\x01\x01"]  # shared, 1 page
    if imported_global:  # a mutable i32 from JS: the global index space starts with it
        imports.append(wasm_string("env") + wasm_string("g") + b"\x03\x7f\x01")
    sections = [
        section(1, [bytes([0x60, 3, I32, I32, I64, 1, I32]), bytes([0x60, 3, I32, I64, I64, 1, I32])]),
        section(2, imports),
        section(3, [b"\x00", b"\x01"] + [b"\x00"] * (functions - 2)),
    ]
    if with_global:  # a mutable i32 of the module's own, as __stack_pointer is
        sections.append(section(6, [b"\x7f\x01\x41\x00\x0b"]))
    names = [("wait32", 0), ("wait64", 1)] + [(instrument.ALLOCATOR, 0)] * allocator
    bodies = [wait32, wait64] + [wait32] * (functions - 2)
    sections += [section(7, [wasm_string(name) + b"\x00" + uleb(f) for name, f in names]), section(10, [uleb(len(b)) + b for b in bodies])]
    if custom:
        sections.append(b"\x00" + uleb(len(custom)) + custom)
    return b"\0asm\x01\0\0\0" + b"".join(sections)


# Waits that return at once, on Node's main thread (which may wait): "not-equal" (1) when
# the word differs from the expected value, "timed-out" (2) after a zero timeout; and one
# that sleeps, on a worker, until the main thread wakes it ("ok", 0).
RUN_WAITS = r"""
const { Worker } = require('node:worker_threads');
const bytes = require('fs').readFileSync(process.argv[1]);
const module = new WebAssembly.Module(bytes);
const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
const g = new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
const { exports } = new WebAssembly.Instance(module, { env: { memory, g } });
const words = new Int32Array(memory.buffer);
const counters = () => [words[16], words[17]]; // at 64: [sleeping, sleeps begun or ended]
const out = {};
words[3] = 7; // address 4 + offset 8
out.uncounted = [exports.wait32(4, 5, -1n), ...counters()];
exports.__wbg_pool_count_waits(64);
out.counted = [exports.wait32(4, 5, -1n), ...counters()];
out.timed = [exports.wait32(4, 7, 0n), ...counters()]; // 2 only if the offset was kept
out.wait64 = [exports.wait64(16, 9n, -1n), ...counters()];
out.importedGlobal = g.value; // the module's own global holds the address, not this one
// Waits forbidden (as the runtime forbids the main thread's, around some calls): any wait traps.
exports.__wbg_pool_no_wait.value = 1;
try {
  out.forbidden = ['returned', exports.wait32(4, 5, -1n)];
} catch (error) {
  out.forbidden = [error.constructor.name, exports.__wbg_pool_no_wait.value, ...counters()];
}
exports.__wbg_pool_no_wait.value = 0;
const sleeper = new Worker(`
  const { workerData: { module, memory }, parentPort } = require('node:worker_threads');
  const g = new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
  const { exports } = new WebAssembly.Instance(module, { env: { memory, g } });
  exports.__wbg_pool_count_waits(64);
  parentPort.postMessage(exports.wait32(4, 7, -1n));
`, { eval: true, workerData: { module, memory } });
const asleep = () => new Promise((resolve) => {
  const until = Date.now() + 10_000; // then the counters tell what they saw instead
  const poll = () => (Atomics.load(words, 16) === 1 || Date.now() > until ? resolve() : setTimeout(poll, 5));
  poll();
});
asleep().then(() => {
  out.asleep = counters();
  Atomics.notify(words, 3, 1);
  sleeper.once('message', (result) => {
    out.woken = [result, ...counters()];
    console.log(JSON.stringify(out));
    sleeper.terminate();
  });
});
"""


def test_the_helpers_wait_as_the_instructions_did_and_count_only_sleeps_without_a_timeout(tmp_path: Path) -> None:
    # Without a global section the patch makes one; an imported global comes before its own.
    for with_global, imported_global in ((True, False), (False, False), (False, True)):
        source = tmp_path / "waits.wasm"
        source.write_bytes(wait_module(with_global, imported_global))
        counted = read_interface(source).counted
        assert counted is not None and (counted.waits, counted.functions) == (2, 2)
        source.write_bytes(counted.data)
        run = subprocess.run(["node", "-e", RUN_WAITS, str(source)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == {
            "uncounted": [1, 0, 0],  # no address given: the thread does not count
            "counted": [1, 0, 2],  # asleep, then awake: two changes, none asleep now
            "timed": [2, 0, 2],  # a wait with a timeout is not counted
            "wait64": [1, 0, 4],
            "importedGlobal": 0,
            "forbidden": ["RuntimeError", instrument.TRIPPED, 0, 4],  # trapped, said so, counted nothing
            "asleep": [1, 5],  # the worker sleeps, counted
            "woken": [0, 0, 6],  # woken: "ok", and no longer asleep
        }, (with_global, imported_global)


def test_a_module_that_cannot_count_its_waits_is_left_as_it_is_and_inspect_says_why(tmp_path: Path) -> None:
    dwarf = wasm_string(".debug_info") + b"\x00"
    left = {
        "a 64-bit memory": wait_module(True, False).replace(b"\x02\x03\x01\x01", b"\x02\x07\x01\x01"),
        "exports no allocator (__wbindgen_malloc)": wait_module(True, False, allocator=False),
        # 126 functions and 3 added: the count's LEB128 grows from one byte to two.
        "would need a wider LEB128, which would move every DWARF offset": wait_module(True, False, functions=126, custom=dwarf),
    }
    for reason, data in left.items():
        (tmp_path / "waits.wasm").write_bytes(data)
        found = read_interface(tmp_path / "waits.wasm")
        assert found.counted is None and found.waits_counted is None and reason in (found.not_counted or ""), (reason, found.not_counted)
    # Without DWARF the count may grow: nothing else refers to code offsets.
    (tmp_path / "waits.wasm").write_bytes(wait_module(True, False, functions=126))
    assert read_interface(tmp_path / "waits.wasm").counted is not None


def code_start(module: Module) -> int:
    """Where the code section's content starts."""
    return next(start for section, start, _ in module.sections if section == CODE_SECTION)


def test_the_demo_module_counted_keeps_every_other_byte_of_its_code_where_it_was(tmp_path: Path) -> None:
    path = next(wasm_bindgen_output().glob("*_bg.wasm"))
    before = read_module(path)
    counted = read_interface(path).counted
    assert counted is not None and counted.waits > 0
    (tmp_path / "counted.wasm").write_bytes(counted.data)
    after = read_module(tmp_path / "counted.wasm")

    # Offsets in the code section (DWARF's, a stack's `wasm-function[i]:0x…`) hold.
    assert [o - code_start(after) for o in after.body_offsets[: len(before.bodies)]] == [
        o - code_start(before) for o in before.body_offsets
    ]
    assert set(after.export_names) == {*before.export_names, instrument.EXPORT, instrument.NO_WAIT}
    assert after.data[: before.body_offsets[0]] != before.data[: before.body_offsets[0]]  # the sections grew
    helpers = range(len(before.function_types) + 1, len(after.function_types))
    for index, (old, new) in enumerate(zip(before.bodies, after.bodies), len(before.imports)):
        sites = decode_body(old).wait_sites
        assert len(old) == len(new) and not decode_body(new).wait_sites, before.function_name(index)
        for start, _, end, _ in sites:  # each wait is now a call of one of the helpers
            assert new[start] == 0x10 and decode_body(uleb(0) + new[start:end] + b"\x0b").calls <= set(helpers)
        changed = {i for i in range(len(old)) if old[i] != new[i]}
        assert changed <= {i for start, _, end, _ in sites for i in range(start, end)}
    assert all(decode_body(body).wait_sites for body in after.bodies[len(before.bodies) + 1 :])
    # V8 accepts it, and a module counted already is left as it is.
    validate = "process.exit(WebAssembly.validate(require('fs').readFileSync(process.argv[1])) ? 0 : 1)"
    assert subprocess.run(["node", "-e", validate, str(tmp_path / "counted.wasm")]).returncode == 0
    again = read_interface(tmp_path / "counted.wasm")
    assert again.waits_counted is True and again.counted is None


def test_the_patch_writes_the_counted_module_once_and_check_notices_it_gone(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    shutil.copytree(wasm_bindgen_output(), package)
    wasm = next(package.glob("*_bg.wasm"))
    original = wasm.read_bytes()
    dry = run_cli("patch", "--dry-run", package)
    assert dry.returncode == 0 and wasm.read_bytes() == original
    patched = run_cli("patch", package)
    assert patched.returncode == 0 and wasm.name in patched.stdout
    counted = wasm.read_bytes()
    assert counted != original and read_interface(wasm).waits_counted is True
    again = run_cli("patch", package)
    assert again.returncode == 0 and "wrote nothing" in again.stdout and wasm.read_bytes() == counted
    # A module built again over a patched package: --check says so, and a patch counts it.
    wasm.write_bytes(original)
    check = run_cli("patch", "--check", package)
    assert check.returncode == 1 and f"runtime missing or stale: {wasm.name}" in check.stderr
    assert run_cli("patch", package).returncode == 0 and wasm.read_bytes() == counted


def test_a_counted_module_v8_refuses_is_not_written(unpatched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = wasm_package.count_waits

    def cut_short(module, facts):  # a rewrite gone wrong: the module's last bytes missing
        counted = real(module, facts)
        return dataclasses.replace(counted, data=counted.data[:-3])

    monkeypatch.setattr(wasm_package, "count_waits", cut_short)
    before = snapshot(unpatched)
    for mode in (pipeline.Mode.DRY_RUN, pipeline.Mode.PATCH):
        with pytest.raises(RefusedByV8Error, match=r"_bg\.wasm: V8 refuses it as patched: CompileError: .*a module V8 refuses.*Nothing was written"):
            pipeline.run(unpatched / "wbg_demo.js", {}, mode)
        assert snapshot(unpatched) == before
