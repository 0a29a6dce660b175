"""Which `--target` and which wasm-bindgen generation wrote the glue, and where
it instantiates its module: what decides how the patch must change it.

Glue the patch cannot make run in Node is refused here with what to build
instead (a target not for Node, a module built without threads, a generation
wbg-patch does not know, glue already rewritten by hand), before anything is
changed: a patch that fails at run time would be worse than none.
"""

from __future__ import annotations

from tree_sitter import Node

from .errors import AlreadyPatchedError, UnsupportedGlueError
from .model import Generation, Glue
from .syntax import enclosing_function, is_ident, is_member, is_new, is_require, outside_functions, top_level_declarators, walk

# What to build instead, said in every refusal of a target that is not for Node. The glue does
# not say which tool wrote it, and wasm-pack builds neither `module` nor
# `experimental-nodejs-module`: each route is named with the tool that can take it.
BUILD_FOR_NODE = (
    "build for Node: `wasm-pack build --target nodejs` or `wasm-bindgen --target nodejs` (CommonJS); "
    "for ES-module glue, `wasm-pack build --target web` (then call initSync: see the README's \"Supported glue\") "
    "or `wasm-bindgen --target experimental-nodejs-module`"
)
# Glue a browser loads as it is: `--target web`, an ES module that fetches its .wasm. Its
# runtime is the ES-module build (wbg_patch/esm_build.py), which browsers and Node both load:
# the patched package stays one package for both.
BROWSER_TARGETS = ("web",)


def loads_in_browsers(glue: Glue) -> bool:
    """Whether a browser loads this glue, and so its runtime must be the ES-module build."""
    return glue.target in BROWSER_TARGETS


WITH_THREADS = (
    "build with threads: -C target-feature=+atomics,+bulk-memory,+mutable-globals, "
    "-C link-args=--shared-memory --import-memory --max-memory=N and -Z build-std=panic_abort,std "
    "(see rust_example/.cargo/config.toml)"
)


def find_target(glue: Glue) -> str:
    """Which `--target` wrote this glue, from what shows in it."""
    if glue.module_format == "commonjs":
        return "no-modules" if "wasm_bindgen" in top_level_declarators(glue.tree) else "nodejs"
    if glue.source_imports:
        return "module"
    for stmt in glue.tree.root_node.children:
        source = stmt.child_by_field_name("source") if stmt.type == "import_statement" else None
        if source is not None and source.text[1:-1].endswith(b".wasm"):
            return "bundler"  # `import * as wasm from "./x_bg.wasm"`: needs a bundler's wasm loader
    if any(n.parent is not None and outside_functions(n) for n in glue.nodes("await_expression")):
        return "deno"  # top-level await of instantiateStreaming(fetch(...))
    if any(
        spec.child_by_field_name("alias") is not None and spec.child_by_field_name("alias").text == b"default"
        for spec in glue.nodes("export_specifier")
    ) or any(stmt.type == "export_statement" and any(c.type == "default" for c in stmt.children) for stmt in glue.tree.root_node.children):
        return "web"  # `export { initSync, __wbg_init as default }`, or (<= 0.2.108) `export default __wbg_init`
    return "experimental-nodejs-module"


def refuse_targets_not_for_node(glue: Glue) -> None:
    why = {
        "no-modules": "is `--target no-modules` glue (a browser script)",
        "bundler": "is `--target bundler` glue: it imports the .wasm file, which only a bundler can load",
        "deno": "is `--target deno` glue: it fetches the .wasm file with top-level await",
    }.get(glue.target or "")
    if why is not None:
        raise UnsupportedGlueError(f"{why}; {BUILD_FOR_NODE}", glue.path)


def find_generation(glue: Glue, has_init_sync: bool) -> Generation:
    memory_pair = _find_memory_pair(glue)
    if memory_pair is not None:
        glue.memory_site = memory_pair
        if glue.target == "module" or (glue.target == "nodejs" and not has_init_sync):
            return Generation.ON_LOAD
        return Generation.EXPLICIT_INIT if glue.target == "web" else Generation.INIT_SYNC
    if glue.module_format == "commonjs":
        env_require = _find_env_require(glue)
        if env_require is not None:
            glue.memory_site = env_require
            return Generation.LEGACY_ENV
        made = _find_load_time_memory(glue)
        if made is not None:
            glue.memory_statement, glue.memory_site = made
            return Generation.LOAD_TIME
    split = next(
        (
            n.child_by_field_name("source").text[1:-1].decode()
            for n in glue.tree.root_node.children
            if n.type == "import_statement" and n.child_by_field_name("source").text[1:-1].endswith(b"_bg.js")
        ),
        None,
    )
    if split is not None:
        raise UnsupportedGlueError(
            f"is `--target {glue.target}` glue split over two files (its memory is made in {split}), as wasm-bindgen "
            "before 0.2.109 writes it; wbg-patch runs those generations as `--target nodejs` (CommonJS) only: build "
            "with `wasm-bindgen --target nodejs`, or with wasm-bindgen 0.2.109 or newer for ES-module glue",
            glue.path,
        )
    if any(
        is_new(n, "WebAssembly.Memory") and b"shared" in n.text for n in glue.nodes("new_expression")
    ) or any(n.text[1:-1] == b"env" for n in glue.nodes("string") if n.parent.type == "import_statement"):
        raise UnsupportedGlueError(
            f"is threaded `--target {glue.target}` glue of a wasm-bindgen generation wbg-patch does not know "
            "(ES-module and web glue: wasm-bindgen >= 0.2.109; CommonJS: 0.2.89-0.2.97 and >= 0.2.100); "
            "build with `--target nodejs`, or with wasm-bindgen 0.2.109 or newer",
            glue.path,
        )
    raise UnsupportedGlueError(
        "imports no memory: the module was built without threads (no shared memory), so it has no pool "
        f"to run; {WITH_THREADS}",
        glue.path,
    )


def _find_memory_pair(glue: Glue) -> Node | None:
    """`memory: memory || new WebAssembly.Memory({...})` in `__wbg_get_imports`;
    returns the `new WebAssembly.Memory(...)` expression."""
    for node in glue.nodes("pair"):
        if node.child_by_field_name("key").text == b"memory":
            value = node.child_by_field_name("value")
            if value.type == "binary_expression" and is_new(value.child_by_field_name("right"), "WebAssembly.Memory"):
                return value.child_by_field_name("right")
    return None


def _find_env_require(glue: Glue) -> Node | None:
    """`imports['env'] = require('env')`; returns the `require('env')` call."""
    for node in glue.nodes("assignment_expression"):
        if is_require(node.child_by_field_name("right"), "env"):
            left = node.child_by_field_name("left")
            if left.type == "subscript_expression" and left.child_by_field_name("index").text[1:-1] == b"env":
                return node.child_by_field_name("right")
    return None


def _find_load_time_memory(glue: Glue) -> tuple[Node, Node] | None:
    """A top-level statement that makes the shared memory: `exports.memory =
    new WebAssembly.Memory(...)` (0.2.105+) or `imports.wbg = { memory: new
    WebAssembly.Memory(...) }` (0.2.100); returns it and the `new` expression."""
    for statement in glue.tree.root_node.children:
        expr = statement.named_children[0] if statement.type == "expression_statement" and statement.named_children else None
        if expr is None or expr.type != "assignment_expression":
            continue
        value = expr.child_by_field_name("right")
        if is_new(value, "WebAssembly.Memory"):
            return statement, value
        if value.type == "object":
            for pair in value.named_children:
                if pair.type == "pair" and pair.child_by_field_name("key").text == b"memory":
                    if is_new(pair.child_by_field_name("value"), "WebAssembly.Memory"):
                        return statement, pair.child_by_field_name("value")
    return None


def find_load_time_instantiation(glue: Glue) -> tuple[Node, Node | None]:
    """`new WebAssembly.Instance(...)` outside any function (run again on reset),
    and the top-level `new WebAssembly.Module(...)` that compiles the module."""
    instances = [n for n in glue.nodes("new_expression") if is_new(n, "WebAssembly.Instance") and outside_functions(n)]
    if len(instances) != 1:
        raise UnsupportedGlueError(
            f"instantiates its module on require, but with {len(instances)} top-level `new WebAssembly.Instance` "
            "(expected one)",
            glue.path,
        )
    compiles = [n for n in glue.nodes("new_expression") if is_new(n, "WebAssembly.Module") and outside_functions(n)]
    return instances[0], compiles[0] if len(compiles) == 1 else None


def find_module_variable(glue: Glue) -> str:
    """The top-level variable holding the compiled module: the first argument
    of `new WebAssembly.Instance(module, imports)` when that is one (nodejs,
    module), else the variable `__wbg_finalize_init(instance, module)` stores
    its `module` parameter in (web)."""
    declared = top_level_declarators(glue.tree)
    for source_import in glue.source_imports:
        declared[source_import.name] = source_import.statement
    for node in glue.nodes("new_expression"):
        if is_new(node, "WebAssembly.Instance"):
            args = node.child_by_field_name("arguments").named_children
            if args and args[0].type == "identifier" and args[0].text.decode() in declared:
                return glue.text(args[0])
    for assignment in glue.nodes("assignment_expression"):
        left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
        if left.type == "identifier" and left.text.decode() in declared and is_ident(right, "module"):
            function = enclosing_function(assignment)
            params = function.child_by_field_name("parameters") if function is not None else None
            if params is not None and any(is_ident(p, "module") for p in params.named_children):
                return left.text.decode()
    raise UnsupportedGlueError("has no `new WebAssembly.Instance(module, imports)`: cannot find the instantiation", glue.path)


def init_sync_function(glue: Glue) -> tuple[str, Node] | None:
    """`exports.initSync = function (...) {...}` (CommonJS) or
    `function initSync(...) {...}` (ES module): how to call it, and its body."""
    for node in glue.nodes("assignment_expression"):
        if is_member(node.child_by_field_name("left"), "exports", "initSync"):
            return "exports.initSync", node.child_by_field_name("right")
    for node in glue.tree.root_node.children:
        function = node.child_by_field_name("declaration") if node.type == "export_statement" else node
        if function is not None and function.type == "function_declaration" and is_ident(function.child_by_field_name("name"), "initSync"):
            return "initSync", function
    return None


def find_init_flag(glue: Glue, init_sync: Node) -> str:
    """The flag in `initSync`'s `if (flag) return wasm;` guard; clearing it
    lets the runtime instantiate again on fresh memory after a crash."""
    for inner in walk(init_sync):
        if inner.type != "if_statement":
            continue
        condition = inner.child_by_field_name("condition").named_children
        body = inner.child_by_field_name("consequence")
        if (
            len(condition) == 1
            and condition[0].type == "identifier"
            and body.type == "return_statement"
            and is_ident(body.named_children[0] if body.named_children else None, "wasm")
        ):
            return glue.text(condition[0])
    raise UnsupportedGlueError("has `__wbg_get_imports(memory)` but no `initSync` with its `if (…) return wasm;` guard", glue.path)


def find_top_level_instance(glue: Glue) -> tuple[Node, str]:
    """`let <name> = new WebAssembly.Instance(...)` at the top level: the
    instantiation that a reset runs again."""
    for name, declarator in top_level_declarators(glue.tree).items():
        value = declarator.child_by_field_name("value")
        if is_new(value, "WebAssembly.Instance"):
            if declarator.parent.child(0).type != "let":
                raise UnsupportedGlueError(f"holds its instance in `const {name}`, which a reset cannot replace", glue.path)
            return value, name
    raise UnsupportedGlueError("instantiates its module on load, but not with `let … = new WebAssembly.Instance(…)`", glue.path)


def refuse_hand_rewrite(glue: Glue) -> None:
    """o1js-style glue selects memory with its own `isMainThread` block; patching
    over it would fight that code, so it is refused with its location. Only
    wasm-bindgen's own auto-init may use it: `if (isMainThread) initSync()`,
    with `isMainThread` imported from worker_threads (ESM) or read off
    `require('worker_threads')` (CommonJS)."""
    for node in glue.nodes("identifier", "property_identifier", "shorthand_property_identifier_pattern"):
        if node.text == b"isMainThread" and not (_is_generated_auto_init(node) or _is_worker_threads_import(node)):
            raise AlreadyPatchedError(
                f"looks rewritten by hand: `isMainThread` at line {glue.line(node)} selects memory or threads "
                "outside wasm-bindgen's own code; patch the untouched wasm-bindgen output instead",
                glue.path,
            )


def _is_generated_auto_init(node: Node) -> bool:
    """`isMainThread` as the whole condition of an `if` (CommonJS: off `require('worker_threads')`)."""
    condition = node
    if node.parent is not None and node.parent.type == "member_expression":
        if not is_require(node.parent.child_by_field_name("object"), "worker_threads"):
            return False
        condition = node.parent
    elif node.type != "identifier":
        return False
    wrapper = condition.parent
    return (
        wrapper is not None
        and wrapper.type == "parenthesized_expression"
        and wrapper.parent is not None
        and wrapper.parent.type == "if_statement"
    )


def _is_worker_threads_import(node: Node) -> bool:
    spec = node.parent
    statement = spec.parent.parent.parent if spec is not None and spec.type == "import_specifier" else None
    if statement is None or statement.type != "import_statement":
        return False
    source = statement.child_by_field_name("source")
    return source is not None and source.text[1:-1] in (b"worker_threads", b"node:worker_threads")

