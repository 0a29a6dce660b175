"""Whether a Rust panic unwinds to the caller of an export, keeping the
instance and its memory ("unwind"), or aborts it ("abort"): read off the module
and the glue themselves, no flag.

- The module unwinds iff its code throws (`ModuleInterface.throws`): panic_unwind
  raises every panic with a `throw`, and a panic=abort crate has none, even when
  std was built for unwind (then exception handling is compiled in, and its tags
  are there, but nothing throws).
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
from .syntax import function_name, is_ident

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
    guards = [n for n in glue.nodes("function_declaration") if function_name(n) == CALL_GUARD]
    guard = guards[0].child_by_field_name("body") if len(guards) == 1 and guards[0].child_by_field_name("body").named_children else None
    return CatchSite(body, parameters[0].text.decode(), tags[0].text.decode(), PANIC_ERROR, guard)


def _pair_values(glue: Glue, key: str) -> list[Node]:
    """The values of every `key: value` in the glue's object literals."""
    return [n.child_by_field_name("value") for n in glue.nodes("pair") if n.child_by_field_name("key").text == key.encode()]
