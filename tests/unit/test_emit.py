"""The runtime emitted from the templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wbg_patch import emit, glue
from wbg_patch.errors import InternalError


def test_every_runtime_file_is_valid_javascript_for_any_configuration():
    config = emit.RuntimeConfig(
        init_export="init_pool",
        exit_export="exit_pool",
        start_worker_export="start_pool_worker",
        heartbeat_timeout_ms=1234,
        idle_shutdown_ms=0,
        num_threads=3,
    )
    files = emit.render(Path("/pkg/o1js_bindings.cjs"), config)
    assert sorted(files) == sorted(emit.RUNTIME_FILES)
    for name, content in files.items():
        if name.endswith(".cjs"):
            assert glue.first_error(glue.parse(content).root_node) is None, name
    host, worker, manager = (files[f"wbg-pool-{role}.cjs"].decode() for role in ("host", "worker", "manager"))
    assert 'require("./o1js_bindings.cjs")' in host and 'glue["init_pool"](numThreads)' in host and 'glue["exit_pool"]()' in host
    assert 'glue["start_pool_worker"](receiver)' in worker
    assert "heartbeatTimeoutMs: 1234" in manager and "numThreads: 3" in manager and "idleShutdownMs: 0" in manager


def test_a_template_variable_that_is_missing_is_an_error(tmp_path: Path, monkeypatch):
    for template in emit.TEMPLATES.iterdir():
        shutil.copy(template, tmp_path)
    (tmp_path / "wbg-pool-host.cjs.j2").write_text("const x = {{ no_such_setting }};\n")
    monkeypatch.setattr(emit, "TEMPLATES", tmp_path)
    with pytest.raises(InternalError, match="no_such_setting"):
        emit.render(Path("/pkg/glue.js"), emit.RuntimeConfig())
