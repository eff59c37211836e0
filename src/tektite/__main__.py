"""``python -m tektite``: the ``tektite`` command, for an environment whose scripts are not on PATH."""

from tektite.cli.main import entry

entry()
