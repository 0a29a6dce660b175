"""The runtime as one ES module, for glue a browser loads (``--target web``).

A browser cannot load the runtime's CommonJS files, and Node cannot load an ES
module synchronously from CommonJS glue: so the runtime stays CommonJS, and
beside glue a browser loads it goes as its ES-module build, which Node loads
too. The build, ``wbg-pool/runtime.mjs``, holds every runtime file as a
function; ``wbg-pool/load.mjs`` (``runtime_js/esm/load.mjs``) runs them as
Node would, each when first required. ``wbg-pool/thread.mjs`` is the entry of
the pool's threads, and imports the glue where a bundler sees it.
"""

from __future__ import annotations

import json
import re

import jinja2

from .config import RUNTIME_JS

BUILD = "runtime.mjs"
LOADER = "load.mjs"
THREAD = "thread.mjs"
FILES = (BUILD, LOADER, THREAD)

# The public API of manager.cjs: one `exports.Name = …` a line, as Node reads it off the file.
_PUBLIC = re.compile(rb"^exports\.([A-Za-z_$][\w$]*) = ", re.MULTILINE)


def public_names(manager_source: bytes) -> list[str]:
    """The names manager.cjs exports: the entry file re-exports each."""
    return [m.decode() for m in _PUBLIC.findall(manager_source)]


def render(env: jinja2.Environment, context: dict[str, object], sources: dict[str, bytes]) -> dict[str, bytes]:
    """The build's files by name (in wbg-pool/), from the runtime's `sources`
    (path under runtime_js/ -> content)."""
    bodies = [(name, _body(name, content)) for name, content in sorted(sources.items())]
    return {
        BUILD: env.get_template(f"{BUILD}.j2").render({**context, "sources": bodies}).encode("utf-8"),
        LOADER: (RUNTIME_JS / "esm" / LOADER).read_bytes(),
        THREAD: env.get_template(f"{THREAD}.j2").render(context).encode("utf-8"),
    }


def _body(name: str, content: bytes) -> str:
    """A runtime file as the body of its function in the build: a JSON file sets
    module.exports to its value, as require() gives it."""
    text = content.decode("utf-8")
    if name.endswith(".json"):
        return f"module.exports = {json.dumps(json.loads(text))};"
    return text.rstrip("\n")
