"""wbg-patch: make wasm-bindgen glue run its Rayon pool in a Node worker.

The pipeline, one module per step, in the order a glue file goes through it:

- ``parse`` finds the glue files, reads one and parses it into a ``model.Glue``;
- ``locate`` finds every place the patch touches, with ``target`` (which
  ``--target`` and wasm-bindgen generation wrote the glue, where it
  instantiates) and then ``contract`` (how the crate starts its Rayon pool);
- ``rewrite`` changes exactly those places and puts the ``prelude`` at the
  top (the glue's values and bindings; the logic is runtime_js/prelude.cjs),
  leaving the ``marker`` (version, options, digest) that ``locate`` reads
  back on the next run;
- ``emit`` renders the runtime that goes beside the glue and plans its files;
- ``pipeline`` runs those steps for one file and does every write
  (``safe_write``); ``cli`` parses arguments and reports what it returns.

Shared by the steps: ``syntax`` (tree-sitter), ``model`` (what is known of a
glue), ``wasm`` (the .wasm: its sections and what its code does), ``config`` (the
options, their defaults and limits from ``runtime_js/defaults.json``) and
``errors`` (every failure, with its exit code).
"""

__version__ = "0.3.0"
