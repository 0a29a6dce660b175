"""Whether a Rust panic unwinds to the caller of an export, keeping the
instance and its memory ("unwind"), or aborts it ("abort"): read off the module
and the glue themselves, no flag.

- The module unwinds iff Rust's panic runtime throws (`ModuleInterface.throws`,
  wasm/hooks.panic_tags): panic_unwind raises every panic with a `throw`, and a
  panic=abort crate has none, even when std was built for unwind (then exception
  handling is compiled in, and its tags are there, but nothing throws). Other
  throws do not count: C/C++ code built with -fwasm-exceptions, setjmp/longjmp,
  wasm-bindgen's catch wrappers passing a JS exception on; an abort crate may
  have any of them, and taken for unwind its panics would lose their messages.
- The glue catches a panic at an export iff it has wasm-bindgen's (>= 0.2.107)
  `__wbg_handle_catch`, the tag wrapping JS exceptions passed to the module as
  `__wbindgen_wrapped_jstag`, and the `PanicError` class (`CatchSite`).

"unwind" needs both. The runtime is told the mode (prelude.py), and in unwind
glue `__wbg_handle_catch` asks the runtime first: left to itself, it marks the
memory dead (`__instance_terminated`) for every instance sharing it.
"""

from __future__ import annotations

from tree_sitter import Node

from .errors import UnsupportedGlueError
from .model import CatchSite, Glue
from .syntax import function_name, is_ident, is_member, walk

UNWIND = "unwind"
ABORT = "abort"
# What each mode means for the user, as `inspect` says it.
MEANING = {UNWIND: "the pool survives a panic", ABORT: "a panic resets the memory"}

CATCH_FUNCTION = "__wbg_handle_catch"
CALL_GUARD = "__wbg_call_guard"
TERMINATED = "__instance_terminated"
WRAPPED_TAG = "__wbindgen_wrapped_jstag"
PANIC_ERROR = "PanicError"

# Why a build that looks half like unwind is "abort".
CANNOT_CATCH = (
    "the module was built with panic=unwind, but this wasm-bindgen's glue cannot catch a panic at an export "
    "(needs wasm-bindgen >= 0.2.107): a panic aborts and resets the memory"
)
PROFILE_SAYS_ABORT = (
    "std was built for panic=unwind but the crate's profile says panic = \"abort\" (a [profile] panic = \"abort\" "
    "in the workspace's Cargo.toml overrides -C panic=unwind): a panic resets the memory"
)
NOT_RUST_THROWS = (
    "the module throws wasm exceptions, but Rust's panic runtime throws none (they are C/C++ exceptions or "
    "setjmp/longjmp): the crate was built with panic=abort, and a panic resets the memory"
)
NOT_DECODED = "the module's code could not be decoded to tell whether it unwinds a panic: a panic resets the memory"


def locate(glue: Glue) -> None:
    """The mode of unpatched glue with its module read, and why it is "abort"
    when the module or the glue alone would unwind."""
    assert glue.module_interface is not None
    glue.catch = find_catch(glue)
    throws, tags = glue.module_interface.throws, glue.module_interface.tags
    glue.panics = UNWIND if throws and glue.catch is not None else ABORT
    if throws and glue.catch is None:
        glue.panics_reason = CANNOT_CATCH
    elif throws is False and glue.module_interface.other_throws:
        glue.panics_reason = NOT_RUST_THROWS
    elif throws is False and tags:
        glue.panics_reason = PROFILE_SAYS_ABORT
    elif throws is None and glue.catch is not None:
        glue.panics_reason = NOT_DECODED


def find_catch(glue: Glue) -> CatchSite | None:
    """The glue's catch of an unwound panic; None for glue without one. Glue that
    names it but in a shape not known here is refused: run unpatched, its first
    failure would mark the shared memory dead for every thread."""
    mentions = [n for n in glue.nodes("identifier", "property_identifier") if n.text in (CATCH_FUNCTION.encode(), TERMINATED.encode())]
    if not mentions:
        return None
    handlers = [n for n in glue.nodes("function_declaration") if function_name(n) == CATCH_FUNCTION]
    parameters = handlers[0].child_by_field_name("parameters").named_children if len(handlers) == 1 else []
    body = handlers[0].child_by_field_name("body") if len(handlers) == 1 else None
    tags = [v for v in _pair_values(glue, WRAPPED_TAG) if v.type == "identifier"]
    classes = [n for n in glue.nodes("class_declaration") if is_ident(n.child_by_field_name("name"), PANIC_ERROR)]
    missing = [
        what
        for what, found in [
            (f"one `function {CATCH_FUNCTION}(e) {{ … }}`", len(parameters) == 1 and parameters[0].type == "identifier" and body.named_children),
            (f"one `{WRAPPED_TAG}: <tag>` in the imports object", len(tags) == 1),
            (f"one `class {PANIC_ERROR}`", len(classes) == 1),
        ]
        if not found
    ]
    if missing:
        raise UnsupportedGlueError(
            f"uses wasm-bindgen's catch of unwound panics (`{mentions[0].text.decode()}` at line {glue.line(mentions[0])}) "
            f"in a shape this version does not know: it lacks {', '.join(missing)}; run unpatched, its first failure "
            "would mark the memory every thread shares as dead",
            glue.path,
        )
    return CatchSite(body, parameters[0].text.decode(), tags[0].text.decode(), PANIC_ERROR, _call_guard(glue))


# The body of wasm-bindgen's `__wbg_call_guard` (0.2.119 and later; 0.2.114-0.2.118 name theirs
# `__wbg_termination_guard`, which is left as it is), as tree-sitter's S-expression of
#     __wbg_terminated_addr ??= wasm.__instance_terminated.value / 4;
#     const flag = getInt32ArrayMemory0()[__wbg_terminated_addr];
#     if (flag) {
#         if (!__wbg_called_abort) {
#             __wbg_call_abort_hook();
#         }throw new Error('Module terminated');
#     }
# : the check of the mark `__wbg_handle_catch` sets, and nothing else. Its
# --experimental-reset-state-function adds a reset of the glue's state to it, another shape.
_GUARD_SHAPE = " ".join(
    """
    (statement_block
      (expression_statement (augmented_assignment_expression left: (identifier) right: (binary_expression
        left: (member_expression object: (member_expression object: (identifier) property: (property_identifier))
          property: (property_identifier)) right: (number))))
      (lexical_declaration (variable_declarator name: (identifier) value: (subscript_expression
        object: (call_expression function: (identifier) arguments: (arguments)) index: (identifier))))
      (if_statement condition: (parenthesized_expression (identifier)) consequence: (statement_block
        (if_statement condition: (parenthesized_expression (unary_expression argument: (identifier)))
          consequence: (statement_block (expression_statement (call_expression function: (identifier) arguments: (arguments)))))
        (throw_statement (new_expression constructor: (identifier) arguments: (arguments (string (string_fragment))))))))
    """.split()
)


def _call_guard(glue: Glue) -> Node | None:
    """The body of the glue's `__wbg_call_guard`, which each export's wrapper calls
    first (rewrite.py replaces it: it checks a mark the runtime never lets the glue
    set); None for glue without one. Glue whose guard has a shape not known here is
    refused, as a catch of another shape is: replaced, what else it does would go."""
    mentions = [n for n in glue.nodes("identifier") if n.text == CALL_GUARD.encode()]
    if not mentions:
        return None
    guards = [n for n in glue.nodes("function_declaration") if function_name(n) == CALL_GUARD]
    body = guards[0].child_by_field_name("body") if len(guards) == 1 else None
    known = (
        body is not None
        and not guards[0].child_by_field_name("parameters").named_children
        and str(body) == _GUARD_SHAPE
        and any(is_member(n, "wasm", TERMINATED) for n in walk(body))
    )
    if not known:
        raise UnsupportedGlueError(
            f"uses wasm-bindgen's check before each call (`{CALL_GUARD}` at line {glue.line(mentions[0])}) in a shape this "
            f"version does not know: the patch replaces it only as one `function {CALL_GUARD}() {{ … }}` that checks "
            f"`wasm.{TERMINATED}` and does nothing else, as wasm-bindgen 0.2.119 and later write it without "
            "--experimental-reset-state-function; replaced, whatever else it does would be lost",
            glue.path,
        )
    return body


def _pair_values(glue: Glue, key: str) -> list[Node]:
    """The values of every `key: value` in the glue's object literals."""
    return [n.child_by_field_name("value") for n in glue.nodes("pair") if n.child_by_field_name("key").text == key.encode()]
