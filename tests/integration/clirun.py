"""Running the ``tektite`` command as a user does: a subprocess, with its own home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tektite(
    home: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``python -m tektite ARGS`` with ``TEKTITE_HOME=home`` (and ``env``); ``check``: a non-zero
    exit fails the test with what the command printed on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "tektite", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TEKTITE_HOME": str(home), **(env or {})},
        cwd=cwd,
        input=stdin,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"tektite {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done
