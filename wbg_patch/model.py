"""What the patcher knows about one glue file, filled in step by step.

`parse` makes a Glue from the file, `locate` (with `marker` and `target`)
fills in the places a patch touches, and `rewrite` reads them: one record
passed along the pipeline, so no step searches the source again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from tree_sitter import Node, Tree

from .syntax import walk
from .wasm import MemoryImport, ModuleInterface


class Generation(Enum):
    """How a threaded module's glue instantiates it: what the patch must change."""

    # wasm-bindgen >= 0.2.109, nodejs and experimental-nodejs-module: `initSync`,
    # called by the glue itself on the main thread.
    INIT_SYNC = "initSync, called on load (wasm-bindgen >= 0.2.109)"
    # wasm-bindgen >= 0.2.109, web: `initSync`, called by the user.
    EXPLICIT_INIT = "initSync, called by the user (wasm-bindgen >= 0.2.109, --target web)"
    # wasm-bindgen >= 0.2.109, module: instantiated by the module's top-level code.
    ON_LOAD = "instantiated on load (wasm-bindgen >= 0.2.109, --target module)"
    # wasm-bindgen 0.2.100-0.2.108, nodejs: the memory made by a top-level
    # statement, the module instantiated by top-level code on require.
    LOAD_TIME = "instantiated on require (wasm-bindgen 0.2.100-0.2.108, --target nodejs)"
    # wasm-bindgen <= 0.2.97: `imports['env'] = require('env')`, instantiated on require.
    LEGACY_ENV = "require('env') (wasm-bindgen <= 0.2.97)"


@dataclass
class SourceImport:
    """`import source <name> from "<specifier>"` (a source-phase import of the
    wasm module, --target module): Node 20 cannot load it, tree-sitter does not
    know it, and the patch replaces it."""

    statement: Node
    name: str
    specifier: str


@dataclass(frozen=True)
class CatchSite:
    """Glue that catches a panic unwound out of an export (wasm-bindgen >= 0.2.107):
    `function __wbg_handle_catch(e) { … }`, which every export's wrapper calls with
    what the call threw, and the names the runtime needs to tell a panic from an
    abort there: the tag wrapping a JS exception, and the class of a panic."""

    handler: Node  # the statement block of `__wbg_handle_catch`
    parameter: str  # its one parameter: what the export threw
    wrapped_tag: str  # the identifier the imports object passes as `__wbindgen_wrapped_jstag`
    panic_error: str  # the glue's `class PanicError extends Error {}`
    call_guard: Node | None  # the statement block of `__wbg_call_guard`, which each wrapper calls first


@dataclass(frozen=True)
class Wrapper:
    """A glue function that calls exports of the module which can wait for
    another thread (wasm/waits.py): outside execute(), while a pool that the main
    thread's calls would reach is up, its whole body runs against the pool's
    host (runtime_js/route.cjs), its allocations and JS values included."""

    function: Node  # the function, method or arrow function
    body: Node  # its statement block, or the expression of an arrow function
    exports: tuple[str, ...]  # the exports that can wait it reads as `wasm.<name>`


@dataclass
class Glue:
    """What the patcher knows about one glue file."""

    path: Path
    source: bytes
    tree: Tree
    module_format: str  # "commonjs" or "esm"
    source_imports: list[SourceImport] = field(default_factory=list)
    target: str | None = None  # the wasm-bindgen --target that wrote it, as far as it shows
    patched_by: str | None = None
    patch_config: dict | None = None  # the options stored by the patch
    config_comment: Node | None = None
    digest_comment: Node | None = None
    generation: Generation | None = None
    contract: str | None = None  # patched glue: the pool contract's kind (contract.Kind value) its marker records
    panics: str | None = None  # "unwind" or "abort" (see panics.py); patched glue: as its marker records
    panics_reason: str | None = None  # why "abort", when the module or the glue alone would unwind
    catch: CatchSite | None = None  # unpatched glue that catches an unwound panic at an export
    wasm_declaration: Node | None = None
    wasm_assignments: list[Node] = field(default_factory=list)
    wasm_member_reads: list[Node] = field(default_factory=list)
    wrappers: list[Wrapper] = field(default_factory=list)  # see Wrapper
    memory_site: Node | None = None  # the expression that makes (or fails to make) the memory
    finalization_registries: list[Node] = field(default_factory=list)  # `new FinalizationRegistry(...)`
    # The statement block of `__wbindgen_init_externref_table`, and its table variable (glue whose
    # module keeps JS values in an externref table): where each instance reserves its own slots
    externref_init: Node | None = None
    externref_table_variable: str | None = None
    externref_table: str | None = None  # the table's export name, e.g. `__wbindgen_externrefs`
    # `x.__wbg_ptr` of the glue's classes: every use of an object's address, and where it is set
    pointer_reads: list[Node] = field(default_factory=list)
    pointer_writes: list[Node] = field(default_factory=list)  # `x.__wbg_ptr = value` assignments
    module_variable: str | None = None
    init_sync: str | None = None  # how the prelude calls initSync: `exports.initSync` or `initSync`
    init_flag: str | None = None  # INIT_SYNC: the `if (flag) return wasm;` guard of initSync
    instance: Node | None = None  # ON_LOAD, LOAD_TIME: `new WebAssembly.Instance(...)`, run again on reset
    instance_variable: str | None = None  # ON_LOAD: the `let` that holds that instance
    memory_statement: Node | None = None  # LOAD_TIME: the top-level statement that makes the memory, run again on reset
    exposes_instance: bool = False  # LOAD_TIME: the glue exports its instance's exports as `__wasm`
    module_compile: Node | None = None  # LOAD_TIME: `new WebAssembly.Module(bytes)`, skipped where a module is given
    prelude_site: int = 0  # where the prelude goes: before the first statement
    memory: MemoryImport | None = None
    wasm_file: Path | None = None
    module_interface: ModuleInterface | None = None
    exports: list[str] = field(default_factory=list)
    _index: dict[str, list[Node]] | None = field(default=None, repr=False)

    def nodes(self, *types: str) -> list[Node]:
        """All nodes of these types, in source order (one walk, then cached:
        large glue has hundreds of thousands of nodes)."""
        if self._index is None:
            self._index = {}
            for n in walk(self.tree.root_node):
                self._index.setdefault(n.type, []).append(n)
        found = [n for t in types for n in self._index.get(t, [])]
        return sorted(found, key=lambda n: n.start_byte) if len(types) > 1 else found

    def line(self, node: Node) -> int:
        return node.start_point[0] + 1

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8")
