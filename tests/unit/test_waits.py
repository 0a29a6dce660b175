"""Which exports can wait for another thread (wbg_patch/wasm/waits.py): a wait
reached directly, through an indirect call of the same type, through a JS import;
which depend on their instance (thread-local storage, a global, the table of JS
values, a JS value in the signature); the code that only runs once a failure
began left out, by std's own names only and only in a guarded module; and the
demo and contract crates as they are built."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import BUILD, run_cli, snapshot, uleb, wasm_bindgen_output
from test_patch_fixtures import section, wasm_string
from wbg_patch import locate, parse
from wbg_patch.wasm import read_interface
from wbg_patch.wasm.code import decode_body
from wbg_patch.wasm.sections import Module, read_module
from wbg_patch.wasm.waits import classify

I32 = 0x7F
WAIT32 = b"\xfe\x01" + uleb(2) + uleb(0)  # memory.atomic.wait32, align 4, offset 0
PANIC_WITH_HOOK = "std[fcfb5db6d3ae018]::panicking::panic_with_hook"


def body(*instructions: bytes) -> bytes:
    return uleb(0) + b"".join(instructions) + b"\x0b"


def call(index: int) -> bytes:
    return b"\x10" + uleb(index)


def call_indirect(type_index: int) -> bytes:
    return b"\x11" + uleb(type_index) + uleb(0)


def module(bodies: dict[int, bytes], exports: dict[str, int], *, imports=(), types=None, function_types=None, names=None, elements=(),
           **fields) -> Module:  # fmt: skip
    """Functions numbered from 0, imports first; every function of type 0 (() -> ()) unless told."""
    count = len(imports) + len(bodies)
    return Module(
        types=types or [((), ())],
        function_types=function_types or [0] * count,
        imports=list(imports),
        exports=exports,
        names=names or {},
        bodies=[bodies[i] for i in range(len(imports), count)],
        elements=set(elements),
        **fields,
    )


def waits_of(m: Module, guarded: bool = True) -> dict[str, str | None]:
    found = classify(m, [decode_body(b) for b in m.bodies], cut_failure_paths=guarded)
    return {name: None if reason is None else str(reason) for name, reason in found.exports.items()}


def bound_of(m: Module, guarded: bool = True) -> dict[str, str | None]:
    found = classify(m, [decode_body(b) for b in m.bodies], cut_failure_paths=guarded)
    return {name: None if reason is None else str(reason) for name, reason in found.bound.items()}


def global_get(index: int) -> bytes:
    return b"\x23" + uleb(index) + b"\x1a"  # global.get; drop


def table_get(index: int) -> bytes:
    return b"\x41\x00\x25" + uleb(index) + b"\x1a"  # i32.const 0; table.get; drop


# wasm-ld's globals: the stack pointer, the thread-local storage's base; a third one unnamed.
THREAD_GLOBALS = {"mutable_globals": {0, 1, 2}, "global_names": {0: "__stack_pointer", 1: "__tls_base"}}


def test_a_wait_reached_by_direct_calls_is_named_with_its_path():
    m = module({0: body(call(1)), 1: body(call(2)), 2: body(WAIT32), 3: body()}, {"lock": 0, "noop": 3}, names={1: "outer", 2: "futex_wait"})
    assert waits_of(m) == {"lock": "waits in futex_wait (memory.atomic.wait) (via outer)", "noop": None}


def test_an_indirect_call_reaches_every_table_function_of_its_type_and_no_other():
    types = [((), ()), ((I32,), ())]
    # 0 calls indirectly with type 1; 1 (type 1, in a table) waits; 2 (type 0, in a table) waits too.
    bodies = {0: body(b"\x41\x00", call_indirect(1)), 1: body(WAIT32), 2: body(WAIT32), 3: body(call_indirect(0))}
    m = module(bodies, {"dyn_call": 0, "other_type": 3}, types=types, function_types=[0, 1, 0, 0], elements={1})
    assert waits_of(m)["dyn_call"].startswith("waits in function 1")
    assert waits_of(m)["other_type"] is None  # the only type-0 function that waits is in no table
    m.elements = {1, 2}
    assert waits_of(m)["other_type"].startswith("waits in function 2")


def test_a_function_taken_by_ref_func_may_be_called_indirectly():
    bodies = {0: body(b"\xd2" + uleb(1) + b"\x1a"), 1: body(WAIT32), 2: body(call_indirect(0))}
    assert waits_of(module(bodies, {"dyn_call": 2}))["dyn_call"].startswith("waits in function 1")


def test_unreadable_tables_make_every_indirect_call_a_wait():
    m = module({0: body(call_indirect(0)), 1: body()}, {"dyn_call": 0, "plain": 1})
    m.elements_known = False
    assert waits_of(m) == {"dyn_call": "makes an indirect call whose targets could not be bounded, in function 0", "plain": None}


def test_js_imports_may_run_any_js_but_wasm_bindgen_intrinsics_do_not():
    imports = [("./x_bg.js", "__wbg_log_64d315aee645acdf"), ("./x_bg.js", "__wbg___wbindgen_throw_41e9ee4f547fc59a"),
               ("./x_bg.js", "__wbindgen_string_new"), ("./x_bg.js", "__wbindgen_debug_string")]  # fmt: skip
    bodies = {4: body(call(0)), 5: body(call(1), call(2)), 6: body(call(3))}
    found = waits_of(module(bodies, {"logs": 4, "throws": 5, "debug_string": 6}, imports=imports))
    assert found["logs"] == "calls the JS import ./x_bg.js.__wbg_log_64d315aee645acdf, which may run any JS"
    assert found["throws"] is None
    # debug_string calls toString() and JSON.stringify(): user code.
    assert found["debug_string"].startswith("calls the JS import ./x_bg.js.__wbindgen_debug_string")


def test_an_intrinsic_that_copies_a_string_into_wasm_calls_the_allocator_back():
    imports = [("./x_bg.js", "__wbg___wbindgen_string_get_0380ccaa2f57f0d9")]
    bodies = {1: body(call(0)), 2: body(WAIT32)}
    m = module(bodies, {"reads_a_string": 1, "__wbindgen_malloc": 2}, imports=imports)
    assert waits_of(m)["reads_a_string"].startswith("waits in function 2 (memory.atomic.wait) (via")


@pytest.mark.parametrize("name", [PANIC_WITH_HOOK, "std::panicking::rust_panic_with_hook::h0123456789abcdef", "std[1a]::alloc::rust_oom"])
def test_the_code_that_runs_only_once_a_failure_began_is_not_counted(name: str):
    bodies = {0: body(call(1)), 1: body(call(2)), 2: body(WAIT32)}
    m = module(bodies, {"may_panic": 0}, names={1: name})
    assert waits_of(m) == {"may_panic": None}
    assert classify(m, [decode_body(b) for b in m.bodies], cut_failure_paths=True).cut == (name,)


def test_without_the_guard_nothing_is_cut():
    """A module the patch could not rewrite has no wait guard: its main thread could sleep there."""
    m = module({0: body(call(1)), 1: body(call(2)), 2: body(WAIT32)}, {"may_panic": 0}, names={1: PANIC_WITH_HOOK})
    assert waits_of(m, guarded=False)["may_panic"].startswith("waits in function 2")
    assert classify(m, [decode_body(b) for b in m.bodies]).cut == ()


@pytest.mark.parametrize("name", [None, "my_crate::panicking::panic_with_hook", "std::panicking::panic_with_hook_and_more", "panic_in_pool"])
def test_only_std_s_own_names_are_cut_and_nothing_without_names(name: str | None):
    bodies = {0: body(call(1)), 1: body(WAIT32)}
    m = module(bodies, {"may_panic": 0}, names={} if name is None else {1: name})
    assert waits_of(m)["may_panic"] is not None


def test_a_wait_reached_other_than_through_the_failure_path_still_counts():
    bodies = {0: body(call(1), call(2)), 1: body(call(2)), 2: body(WAIT32)}
    m = module(bodies, {"locks_too": 0}, names={1: PANIC_WITH_HOOK})
    assert waits_of(m)["locks_too"].startswith("waits in function 2")


def test_thread_local_storage_and_other_globals_bind_an_export_to_its_instance_but_the_stack_pointer_does_not():
    bodies = {0: body(call(3)), 1: body(global_get(0)), 2: body(global_get(2)), 3: body(global_get(1))}
    m = module(bodies, {"tls": 0, "stack": 1, "other": 2}, names={3: "current_thread_index"}, **THREAD_GLOBALS)
    assert bound_of(m) == {
        "tls": "uses thread-local storage (__tls_base: a thread_local!, the thread's identity) in current_thread_index",
        "stack": None,
        "other": "uses the global global 2, of which each thread's instance has its own",
    }
    assert waits_of(m) == {"tls": None, "stack": None, "other": None}  # none of them can wait
    assert classify(m, [decode_body(b) for b in m.bodies]).local == ["stack"]


def test_without_global_names_every_mutable_global_binds_and_immutable_ones_do_not():
    m = module({0: body(global_get(0)), 1: body(global_get(1))}, {"sp": 0, "constant": 1}, mutable_globals={0})
    assert bound_of(m)["sp"] == "uses the global global 0, of which each thread's instance has its own"
    assert bound_of(m)["constant"] is None


def test_the_table_of_js_values_binds_an_export_to_its_instance():
    types = [((), ()), ((0x6F,), ())]  # a JS value in the signature: externref
    bodies = {0: body(table_get(1)), 1: body(b"\x41\x00\xfc\x0f" + uleb(0) + b"\x1a"), 2: body(), 3: body(call(0))}
    m = module(bodies, {"reads": 3, "grows": 1, "takes": 2}, types=types, function_types=[0, 0, 1, 0], externref_tables={1})
    found = bound_of(m)
    assert found["reads"] == "uses the table of JS values (table 1), of which each thread's instance has its own in function 0"
    assert found["grows"] == "uses a function table that the module changes (table 0), of which each thread's instance has its own"
    assert found["takes"] == "uses the table of JS values (one it takes or returns), of which each thread's instance has its own"


def test_an_indirect_call_binds_only_through_a_function_table_that_some_function_changes():
    bodies = {0: body(b"\x41\x00\x11" + uleb(0) + uleb(1)), 1: body(b"\x41\x00\x11" + uleb(0) + uleb(0)), 2: body()}
    m = module(bodies, {"through_1": 0, "through_0": 1, "target": 2}, elements={2})
    assert bound_of(m) == {"through_1": None, "through_0": None, "target": None}
    # A function that sets a slot of table 1 (table.set 1): table 1 differs on each instance.
    bodies[3] = body(b"\x41\x00\xd0\x70\x26" + uleb(1))
    m = module(bodies, {"through_1": 0, "through_0": 1, "target": 2}, elements={2})
    assert bound_of(m)["through_1"] == "uses a function table that the module changes (table 1), of which each thread's instance has its own"
    assert bound_of(m)["through_0"] is None


@pytest.mark.parametrize(
    ("instruction", "tables"),
    [
        (b"\xfc\x0c" + uleb(3) + uleb(2), {2}),  # table.init segment 3, table 2
        (b"\xfc\x0e" + uleb(4) + uleb(5), {4, 5}),  # table.copy to 4 from 5
        (b"\xfc\x0d" + uleb(7), set()),  # elem.drop: a segment, no table
        (b"\xfc\x10" + uleb(200), {200}),  # table.size of a table whose index takes two bytes
    ],
)
def test_the_decoder_reads_which_tables_each_table_instruction_names(instruction: bytes, tables: set[int]):
    assert decode_body(body(instruction)).tables == tables


def test_the_decoder_reads_global_indices_of_one_byte_and_more():
    assert decode_body(body(global_get(3), global_get(300), b"\x41\x00\x24" + uleb(130))).globals == {3, 300, 130}


def test_the_module_reader_knows_mutable_globals_their_names_and_tables_of_js_values(tmp_path: Path):
    globals_ = [b"\x7f\x01\x41\x00\x0b", b"\x7f\x00\x41\x05\x0b", b"\x6f\x01\xd0\x6f\x0b", b"\x7f\x01\x41\x00\x41\x01\x6a\x0b"]
    imports = [wasm_string("env") + wasm_string("g") + b"\x03\x7f\x00", wasm_string("env") + wasm_string("t") + b"\x01\x6f\x00\x01"]
    names = wasm_string("name") + b"\x07" + uleb(9) + uleb(1) + uleb(1) + wasm_string("__tls_base")
    data = b"\0asm\x01\0\0\0" + section(2, imports) + section(4, [b"\x70\x00\x01"]) + section(6, globals_)
    data += b"\x00" + uleb(len(names)) + names
    (tmp_path / "m.wasm").write_bytes(data)
    m = read_module(tmp_path / "m.wasm")
    assert m.undecodable is None
    # The imported global comes first (immutable); then mutable, immutable, mutable externref, mutable (extended const).
    assert (m.globals, m.mutable_globals, m.global_names) == (5, {1, 3, 4}, {1: "__tls_base"})
    assert (m.tables, m.externref_tables) == (2, {0})  # the imported table holds JS values, the defined one functions


def test_a_global_with_an_initial_value_of_an_unknown_form_leaves_the_rest_mutable_and_the_module_readable(tmp_path: Path):
    globals_ = [b"\x7f\x00\x41\x05\x0b", b"\x7b\x00\xfd\x0c" + bytes(16) + b"\x0b", b"\x7f\x00\x41\x05\x0b"]  # v128.const
    (tmp_path / "m.wasm").write_bytes(b"\0asm\x01\0\0\0" + section(6, globals_))
    m = read_module(tmp_path / "m.wasm")
    assert m.undecodable is None and (m.globals, m.mutable_globals) == (3, {2})


def test_a_use_in_the_failure_path_only_does_not_bind():
    bodies = {0: body(call(1)), 1: body(global_get(1))}
    m = module(bodies, {"may_panic": 0}, names={1: PANIC_WITH_HOOK}, **THREAD_GLOBALS)
    assert bound_of(m) == {"may_panic": None}
    assert bound_of(m, guarded=False)["may_panic"].startswith("uses thread-local storage")


def test_the_demo_s_small_exports_cannot_wait_and_its_parallel_ones_can():
    waits = read_interface(next(wasm_bindgen_output().glob("*_bg.wasm"))).waits
    local = set(waits.local)
    assert {"noop", "histogram_new", "histogram_bucket", "histogram_total", "__wbindgen_malloc"} <= local
    for name in ("sum_squares", "collatz_sum", "deadlock", "panic_at", "bump_shared_state", "shout"):
        assert waits.exports[name] is not None, name
    assert str(waits.exports["busy"]).startswith("calls the JS import")  # Date.now(), through js-sys


@pytest.mark.parametrize("package", ["pkg-wasm-bindgen-rayon", "pkg-poolbuilder-global"])
def test_every_parallel_export_of_the_contract_crates_can_wait(package: str):
    waits = read_interface(next(wasm_bindgen_output(package).glob("*_bg.wasm"))).waits
    for name in ("sum_of_squares", "pool_threads", "panic_in_pool", "deadlock"):
        assert waits.exports[name] is not None, name


def test_wrappers_of_exports_that_can_wait_are_bracketed_only_under_contracts_whose_pool_main_joins(tmp_path: Path):
    rayon = tmp_path / "rayon"
    shutil.copytree(wasm_bindgen_output("pkg-wasm-bindgen-rayon"), rayon)
    assert run_cli("patch", rayon).returncode == 0
    glue = next(rayon.glob("*.js")).read_text()
    model = locate.locate(parse.read(next(wasm_bindgen_output("pkg-wasm-bindgen-rayon").glob("example_*.js"))))
    wrapped = {w.exports[0] for w in model.wrappers}
    assert {"sum_of_squares", "panic_in_pool", "deadlock", "pool_threads", "initThreadPool"} <= wrapped
    assert not {"wbg_rayon_poolbuilder_numThreads", "byte_sum"} & wrapped  # cannot wait
    # The pool's init export runs only on the host: its wrapper keeps only its guard.
    assert '__wbg_pool.enter("initThreadPool")' not in glue
    wrapped.remove("initThreadPool")
    for name in wrapped:
        assert f'__wbg_pool.enter("{name}"); try {{' in glue
    assert glue.count("__wbg_pool.leave(__wbg_route)") == len(wrapped)
    demo = tmp_path / "demo"
    shutil.copytree(wasm_bindgen_output(), demo)
    assert run_cli("patch", demo).returncode == 0
    assert "__wbg_pool.enter(" not in next(demo.glob("*.js")).read_text()  # wbg-pool: calls stay local


def test_inspect_lists_every_export_with_its_reason():
    result = run_cli("inspect", "--exports", BUILD / "pkg-wasm-bindgen-rayon")
    assert result.returncode == 0, result.stderr
    assert "outside execute(): the main thread's calls would join the pool while it is up" in result.stdout
    assert "    wbg_rayon_poolbuilder_numThreads: local" in result.stdout
    assert "    sum_of_squares: pool: waits in " in result.stdout
    demo = run_cli("inspect", BUILD / "pkg")
    assert "outside execute(): calls run on the main thread's own instance" in demo.stdout
    assert "    noop: local" not in demo.stdout  # one line per export only with --exports



def test_inspect_exports_on_bad_input_says_what_is_wrong_and_changes_nothing(tmp_path: Path):
    not_glue = tmp_path / "notes.js"
    not_glue.write_text("console.log('hello');\n")
    result = run_cli("inspect", "--exports", not_glue)
    assert result.returncode != 0 and "not wasm-bindgen glue" in result.stdout + result.stderr
    assert not_glue.read_text() == "console.log('hello');\n"
    missing = run_cli("inspect", "--exports", tmp_path / "nowhere")
    assert missing.returncode != 0 and "no such file or directory" in missing.stderr
    # Patched glue whose module is gone: nothing to classify, so every export counts as one that can wait.
    pkg = tmp_path / "pkg"
    shutil.copytree(wasm_bindgen_output(), pkg)
    assert run_cli("patch", pkg).returncode == 0
    next(pkg.glob("*_bg.wasm")).unlink()
    before = snapshot(pkg)
    shown = run_cli("inspect", "--exports", pkg / "wbg_demo.js")
    assert "calls: unknown (no module beside the glue): every export counts as one that can wait" in shown.stdout
    assert snapshot(pkg) == before


def test_the_readme_s_shares_of_the_demo_s_exports_on_the_caller_s_instance_are_the_classification_s():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    abort = re.search(r"The demo: (\d+) of its (\d+) exported functions", readme)
    unwind = re.search(r"\(the demo: (\d+) of (\d+)\)", readme)
    for found, package in ((abort, "pkg"), (unwind, "pkg-unwind")):
        waits = read_interface(next(wasm_bindgen_output(package).glob("*_bg.wasm"))).waits
        assert (int(found[1]), int(found[2])) == (len(waits.local), len(waits.exports)), package


def test_a_counted_module_is_classified_as_the_module_it_came_from_and_names_where_each_wait_was():
    """The helpers instrument.py appends have no name: a wait is told by the function it was in."""
    before = read_interface(next(wasm_bindgen_output().glob("*_bg.wasm"))).waits
    after = read_interface(next((BUILD / "pkg").glob("*_bg.wasm"))).waits
    assert (after.local, after.bound_only) == (before.local, before.bound_only)
    waiting = {name for name, reason in after.exports.items() if reason is not None}
    assert waiting == {name for name, reason in before.exports.items() if reason is not None}
    assert str(after.reason("count_under_lock")) == str(before.reason("count_under_lock"))
    assert str(after.reason("count_under_lock")).startswith("waits in <std[")
