from __future__ import annotations

import os
from pathlib import Path

from tektite.executor.layout import PathMap, container_mounts, prepare_run_dir, write_script
from tektite.executor.plan import Mount
from tektite.executor.testkit import pod, sidecar, step


def test_container_paths_map_by_longest_prefix(tmp_path: Path) -> None:
    mounts = [
        Mount(tmp_path / "ws", "/workspace"),
        Mount(tmp_path / "src", "/workspace/src"),
        Mount(tmp_path / "cfg" / "file", "/etc/app.conf", is_file=True),
    ]
    paths = PathMap(mounts, virtual=True)
    assert paths.host("/workspace/src/a/b") == tmp_path / "src" / "a" / "b"
    assert paths.host("/workspace/srcx") == tmp_path / "ws" / "srcx"
    assert paths.host("/workspace/src/../other") == tmp_path / "ws" / "other"
    assert paths.host("/etc/app.conf") == tmp_path / "cfg" / "file"
    assert paths.host("/usr/bin") is None
    assert paths.container(tmp_path / "src" / "x") == "/workspace/src/x"


def test_without_virtual_paths_host_paths_pass_through(tmp_path: Path) -> None:
    paths = PathMap([Mount(tmp_path / "ws", "/workspace/src")], virtual=False)
    assert paths.host("/workspace/src/f") == tmp_path / "ws" / "f"
    assert paths.host(str(tmp_path / "ws" / "f")) == tmp_path / "ws" / "f"
    assert paths.container(tmp_path / "anything") == str(tmp_path / "anything")


def test_run_dir_has_tektons_step_layout(tmp_path: Path) -> None:
    p = pod(tmp_path, [step("build"), step("unnamed-1")])
    prepare_run_dir(p)
    steps = tmp_path / "tekton" / "steps"
    for name, index in (("step-build", 0), ("step-unnamed-1", 1)):
        assert (steps / name).resolve() == (tmp_path / "tekton" / "run" / str(index) / "status").resolve()
        assert (steps / str(index)).resolve() == (steps / name).resolve()
        assert not os.readlink(steps / name).startswith("/")  # resolves inside a sandbox as well
    prepare_run_dir(p)  # idempotent


def test_standard_tekton_mounts_are_added_when_missing(tmp_path: Path) -> None:
    s = step("a", mounts=[Mount(tmp_path / "w", "/workspace/w")])
    mounts = container_mounts(pod(tmp_path, [s]), s)
    paths = {m.container_path for m in mounts}
    assert {"/tekton/results", "/tekton/steps", "/tekton/scripts", "/tekton/home", "/workspace/w"} <= paths


def test_script_without_shebang_gets_tektons_preamble(tmp_path: Path) -> None:
    p = pod(tmp_path, [step("a", script="echo hi\n")])
    prepare_run_dir(p)
    path = write_script(p, p.steps[0], 0)
    assert path.read_text() == "#!/bin/sh\nset -e\necho hi\n"
    assert path.stat().st_mode & 0o777 == 0o755
    assert path.name.startswith("script-0-")
    other = write_script(p, sidecar("db", script="#!/usr/bin/env python3\nprint(1)\n"), 0)
    assert other.read_text() == "#!/usr/bin/env python3\nprint(1)\n"
    assert other.name.startswith("sidecar-script-0-")


def test_a_shell_stand_in_replaces_bin_sh_only(tmp_path: Path) -> None:
    p = pod(tmp_path, [step("a")])
    prepare_run_dir(p)
    cases = {
        "echo hi\n": "#!/x/ash\nset -e\necho hi\n",
        "#!/bin/sh -x\necho hi\n": "#!/x/ash -x\necho hi\n",
        "#!/usr/bin/env sh\necho hi": "#!/x/ash\necho hi",
        "#!/usr/bin/env ash\n": "#!/x/ash\n",
        "#!/bin/shell\n": "#!/bin/shell\n",
        "#!/usr/bin/env bash\n": "#!/usr/bin/env bash\n",
    }
    for script, expected in cases.items():
        assert write_script(p, step("a", script=script), 0, shell="/x/ash").read_text() == expected
