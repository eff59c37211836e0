"""Spare run directories: made ahead of need, renamed into place when a TaskRun starts.

Creating a directory is the slowest thing about starting a short step on some disks: 0.05 ms on
a quiet ext4, 0.5-0.8 ms while it is busy with recent deletions (and with the ``discard`` mount
option), and a run needs ``<run>/``, ``tekton/``, ``tekton/home/`` and ``logs/`` before its
first container starts. A rename costs ~0.02 ms. So the engine keeps a few empty skeletons in
``<home>/runs/.spare/`` (a name no namespace can have), made in batches by a background thread
woken when few are left, and a starting TaskRun renames one to its directory. When none is
ready (a burst of starts) the run makes its directories itself, as before. A skeleton also
holds an empty ``logs/.blank`` that becomes the first container's log file (creating a file
costs more than renaming one). Whether a run got a skeleton changes nothing else.

A sandbox mounts Tekton's whole ``/tekton`` layout, so the sandbox engine's skeletons bring it all
(``SANDBOX_SKELETON``, ``sandbox_links()``): with the VM's disk digesting deletions, a 1-step
sandbox TaskRun took 14.4-15.3 ms with the small skeleton and 9.3-9.6 ms with this one.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from collections import deque
from pathlib import Path

from tektite.executor.images import compat_links
from tektite.executor.logs import BLANK, LOG_DIR
from tektite.executor.plan import TEKTON_SUBDIRS

log = logging.getLogger(__name__)

SKELETON = ("tekton/home", LOG_DIR)  # what every run needs: HOME, and its log files
# what a sandbox mounts whatever the pod (executor/layout.py, prepare_run_dir), down to the first
# step's status directory and its index link
SANDBOX_SKELETON = (
    *SKELETON,
    *(f"tekton/{sub}" for sub in TEKTON_SUBDIRS if sub != "home"),
    "tekton/run/0/status",
    "workspace",
)


def sandbox_links() -> dict[str, str]:
    """The sandbox skeleton's symlinks: the first step's index link and the compatibility programs."""
    return {
        "tekton/steps/0": "../run/0/status",
        **{f"tekton/bin/{name}": target for name, target in compat_links().items()},
    }


class SpareRunDirs:
    """Up to ``size`` skeleton run directories under ``root``, refilled by a daemon thread
    when no more than ``low`` are left."""

    def __init__(
        self,
        root: Path,
        size: int = 8,
        low: int = 2,
        skeleton: tuple[str, ...] = SKELETON,
        links: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.size = size
        self.low = low
        self.skeleton = skeleton
        self.links = links or {}
        self._ready: deque[Path] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._parents: set[Path] = set()

    def start(self) -> None:
        if self._thread is None:
            self._closed = False
            self._thread = threading.Thread(target=self._fill_loop, name="tektite-spare-dirs", daemon=True)
            self._thread.start()

    def __len__(self) -> int:
        """How many spares are ready now."""
        with self._lock:
            return len(self._ready)

    def claim(self, target: Path) -> bool:
        """Rename a spare skeleton to ``target`` (which must not exist yet); False if none is
        ready or ``target`` is taken, in which case the caller makes its directories itself."""
        with self._lock:
            spare = self._ready.popleft() if self._ready else None
            left = len(self._ready)
        if left <= self.low:  # refill in one batch, not after every run (the thread costs some GIL)
            self._wake.set()
        if spare is None:
            return False
        for _ in range(2):
            parent = target.parent
            try:
                if parent not in self._parents:
                    parent.mkdir(parents=True, exist_ok=True)
                    self._parents.add(parent)
                os.rename(spare, target)  # atomic; refuses a target that exists and is not empty
                return True
            except FileNotFoundError:  # the namespace directory went away meanwhile
                self._parents.discard(parent)
            except OSError:
                break
        with self._lock:
            self._ready.appendleft(spare)
        return False

    def close(self) -> None:
        """Stop refilling and remove the spares left (the home keeps no debris)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._ready.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def _fill_loop(self) -> None:
        # skeletons left by an engine that died are not trusted: start from an empty root
        shutil.rmtree(self.root, ignore_errors=True)
        while not self._closed:
            self._wake.clear()
            try:
                while not self._closed and len(self._ready) < self.size:
                    spare = self._make()
                    with self._lock:
                        self._ready.append(spare)
            except OSError as exc:  # a full or read-only disk: runs make their own directories
                log.debug("spare run directories: %s", exc)
                return
            self._wake.wait()

    def _make(self) -> Path:
        spare = self.root / secrets.token_hex(8)
        for sub in self.skeleton:
            (spare / sub).mkdir(parents=True)
        for link, target in self.links.items():
            (spare / link).symlink_to(target)
        (spare / LOG_DIR / BLANK).touch()  # the first log file, renamed by LogStore.open
        return spare
