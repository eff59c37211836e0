"""Executors: run a resolved :class:`~tektite.executor.plan.Pod` somewhere.

Backends are registered by name and never import each other; what they share lives in
``runner`` (the step runner, Tekton's "entrypoint"), ``execution``, ``layout``, ``procs``,
``limits``, ``masking``, ``logs`` and ``images``.

* ``process``: plain host processes, no isolation;
* ``sandbox``: bubblewrap; the default when ``bwrap`` works on this machine.

``select_executor(None)`` picks and says why, for the CLI to print::

    executor, reason = select_executor(None)
    print(reason)   # "executor: sandbox (bubblewrap 0.8.0)"
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tektite.errors import ExecutionError, NotFound, NotSupported
from tektite.executor.images import ImageConfig
from tektite.executor.plan import Executor

Factory = Callable[[ImageConfig | None], Executor]

_REGISTRY: dict[str, Factory] = {}
_LATER = {"podman": "podman containers", "kubernetes": "Kubernetes pods"}


def register(name: str, factory: Factory) -> None:
    """Make an executor available by name (tests register fakes this way)."""
    _REGISTRY[name] = factory


def _process(images: ImageConfig | None) -> Executor:
    from tektite.executor.process import ProcessExecutor

    return ProcessExecutor(images)


def _sandbox(images: ImageConfig | None) -> Executor:
    from tektite.executor.sandbox import SandboxExecutor

    works, why = sandbox_available()
    if not works:
        raise ExecutionError(
            f"executor 'sandbox' cannot run here: {why}",
            hint="install bubblewrap (Debian: apt-get install bubblewrap), or choose --executor process",
        )
    return SandboxExecutor(images)


register("process", _process)
register("sandbox", _sandbox)


@functools.cache
def sandbox_available() -> tuple[bool, str]:
    """Whether bubblewrap works on this machine, probed once by running ``bwrap ... true``."""
    from tektite.executor.sandbox import probe_bwrap

    return probe_bwrap()


def names() -> list[str]:
    return sorted(_REGISTRY)


def select_executor(name: str | None = None, images: ImageConfig | None = None) -> tuple[Executor, str]:
    """The executor called ``name``, or the best local one for ``None``; plus a line for users."""
    if name is None:
        works, why = sandbox_available()
        if works:
            from tektite.executor.sandbox import bwrap_version

            return _REGISTRY["sandbox"](images), f"executor: sandbox ({bwrap_version() or 'bubblewrap'})"
        return _REGISTRY["process"](images), f"executor: process ({why}: steps run unisolated on the host)"
    factory = _REGISTRY.get(name)
    if factory is None:
        if name in _LATER:
            raise NotSupported(
                f"executor {name!r} ({_LATER[name]}) is not available yet; available: {', '.join(names())}"
            )
        raise NotFound(f"unknown executor {name!r}; expected one of: {', '.join(names())}")
    executor = factory(images)
    if name == "sandbox":
        from tektite.executor.sandbox import bwrap_version

        return executor, f"executor: sandbox ({bwrap_version() or 'bubblewrap'})"
    if name == "process":
        return executor, "executor: process (steps run unisolated on the host)"
    return executor, f"executor: {name}"


def get_executor(name: str | None = None, images: ImageConfig | None = None) -> Executor:
    """Like :func:`select_executor`; the reason is kept on the executor as ``selection``."""
    executor, reason = select_executor(name, images)
    try:
        executor.selection = reason  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return executor


__all__ = ["Executor", "get_executor", "names", "register", "sandbox_available", "select_executor"]
