"""wbg-patch: make wasm-bindgen glue run its Rayon pool in a Node worker.

The pipeline, one module per step: ``glue`` reads and parses the glue and
locates the places to change, ``rewrite`` changes exactly those places,
``emit`` writes the runtime beside the glue, ``cli`` wires them to commands.
"""

__version__ = "0.3.0"
