from __future__ import annotations

import pytest

import tektite.executor as executor_pkg
from tektite.errors import ExecutionError, NotFound, NotSupported
from tektite.executor import get_executor, select_executor


def test_process_is_always_available() -> None:
    executor, reason = select_executor("process")
    assert executor.name == "process" and not executor.virtual_paths
    assert "process" in reason and "unisolated" in reason


def test_default_falls_back_to_process_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_pkg, "sandbox_available", lambda: (False, "bwrap not found"))
    executor, reason = select_executor(None)
    assert executor.name == "process"
    assert reason == "executor: process (bwrap not found: steps run unisolated on the host)"


def test_default_is_sandbox_when_bwrap_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_pkg, "sandbox_available", lambda: (True, ""))
    executor = get_executor(None)
    assert executor.name == "sandbox" and executor.virtual_paths
    assert executor.selection.startswith("executor: sandbox (")  # type: ignore[attr-defined]


def test_sandbox_on_a_machine_without_bwrap_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_pkg, "sandbox_available", lambda: (False, "bwrap not found"))
    with pytest.raises(ExecutionError) as info:
        get_executor("sandbox")
    assert "bwrap not found" in str(info.value) and "bubblewrap" in str(info.value)


def test_unknown_and_later_executors() -> None:
    with pytest.raises(NotFound, match="expected one of: process, sandbox"):
        get_executor("docker")
    with pytest.raises(NotSupported, match="podman"):
        get_executor("podman")
