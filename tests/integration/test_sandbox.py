"""The ``sandbox`` executor with real bubblewrap: isolation as the issue describes it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tektite.executor import sandbox_available
from tektite.executor.images import ImageConfig
from tektite.executor.logs import read
from tektite.executor.plan import ContainerState, Mount, Pod, PodResult, Probe
from tektite.executor.sandbox import SandboxExecutor
from tektite.executor.testkit import RecordingObserver, final, pod, processes_matching, run_pod, sidecar, step
from tektite.executor.testkit import marker as unique_marker

_works, _why = sandbox_available()
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        not _works, reason=f"bubblewrap cannot run here ({_why}); install the Debian package bubblewrap"
    ),
]

GRACE = 0.5


def run(
    p: Pod,
    executor: SandboxExecutor | None = None,
    on_state: Callable[[ContainerState, asyncio.Event], None] | None = None,
) -> tuple[PodResult, RecordingObserver]:
    return run_pod(p, executor or SandboxExecutor(grace=GRACE), on_state)


def marker() -> str:
    return unique_marker(8000)


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace-src"
    ws.mkdir()
    return ws


def test_host_filesystem_is_read_only_and_volumes_are_writable(tmp_path: Path, workspace: Path) -> None:
    script = (
        "if touch /usr/tektite-was-here 2>/dev/null; then echo usr-writable; else echo usr-readonly; fi\n"
        "if touch /etc/tektite-was-here 2>/dev/null; then echo etc-writable; else echo etc-readonly; fi\n"
        "echo data > /workspace/src/x\n"
        "echo result > /tekton/results/r\n"
        "test -e /root || echo no-root-home\n"
    )
    steps = [step("a", script=script)]
    result, obs = run(pod(tmp_path, steps, mounts=[Mount(workspace, "/workspace/src")]))
    assert final(result, "a").exit_code == 0, obs.output("step-a")
    assert obs.output("step-a", "stdout") == b"usr-readonly\netc-readonly\nno-root-home\n"
    assert not Path("/usr/tektite-was-here").exists()
    assert (workspace / "x").read_text() == "data\n"
    assert (tmp_path / "tekton" / "results" / "r").read_text() == "result\n"


def test_read_only_volumes_and_single_file_mounts(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings").write_text("k=v\n")
    secret_file = tmp_path / "token"
    secret_file.write_text("file-content")
    mounts = [Mount(config, "/etc/app", read_only=True), Mount(secret_file, "/var/run/token", is_file=True)]
    script = (
        "cat /etc/app/settings\ncat /var/run/token; echo\ntouch /etc/app/new 2>/dev/null || echo ro\n"
        "touch /etc/other 2>/dev/null || echo etc-still-ro\ntest -f /etc/os-release && echo host-etc-visible\n"
    )
    _result, obs = run(pod(tmp_path, [step("a", script=script)], mounts=mounts))
    assert obs.output("step-a", "stdout") == b"k=v\nfile-content\nro\netc-still-ro\nhost-etc-visible\n"
    assert not (config / "new").exists()
    assert not Path("/etc/other").exists()


def test_own_pid_namespace_and_hostname(tmp_path: Path) -> None:
    script = "cat /proc/1/comm\nhostname\nls /proc | grep -c '^[0-9]'\n"
    _result, obs = run(pod(tmp_path, [step("a", script=script)], name="my-task-pod"))
    comm, hostname, count = obs.output("step-a", "stdout").decode().split()
    assert comm == "bwrap"
    assert hostname == "my-task-pod"
    assert int(count) < 10  # bwrap's init, the shell, grep, ls: not the host's processes


def test_host_processes_are_invisible(tmp_path: Path) -> None:
    m = marker()
    host_sleep = subprocess.Popen(["sleep", m])
    try:
        script = (
            f"for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -c '[s]leep {m}' || true"
        )
        _result, obs = run(pod(tmp_path, [step("a", script=script)]))
    finally:
        host_sleep.kill()
        host_sleep.wait()
    assert obs.output("step-a", "stdout") == b"0\n"


@pytest.fixture()
def tcp_server() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def test_hermetic_steps_have_no_network_but_sidecars_do(tmp_path: Path, tcp_server: int) -> None:
    connect = f"#!/usr/bin/env bash\nexec 3<>/dev/tcp/127.0.0.1/{tcp_server} && echo connected\n"
    links = "ip -o link | cut -d: -f2 | tr -d ' '"
    open_result, open_obs = run(pod(tmp_path / "a", [step("net", script=connect)]))
    sealed_steps = [step("net", script=connect, on_error="continue"), step("links", script=links)]
    sidecars = [sidecar("side", script=connect + "sleep 600\n")]
    sealed_result, sealed_obs = run(pod(tmp_path / "b", sealed_steps, sidecars=sidecars, hermetic=True))
    assert final(open_result, "net").exit_code == 0
    assert open_obs.output("step-net", "stdout") == b"connected\n"
    assert final(sealed_result, "net").exit_code != 0
    assert sealed_obs.output("step-links", "stdout") == b"lo\n"
    assert sealed_obs.output("sidecar-side", "stdout") == b"connected\n"


def test_run_as_user_and_group(tmp_path: Path) -> None:
    steps = [
        step("a", script="id -u; id -g; echo x > /tekton/results/r", run_as_user=1000, run_as_group=3000)
    ]
    result, obs = run(pod(tmp_path, steps))
    assert final(result, "a").exit_code == 0, obs.output("step-a")
    assert obs.output("step-a", "stdout") == b"1000\n3000\n"
    assert (tmp_path / "tekton" / "results" / "r").read_text() == "x\n"


def test_tekton_paths_are_where_tekton_puts_them(tmp_path: Path) -> None:
    steps = [
        step("produce", script="printf hi > /tekton/steps/step-produce/results/greeting; echo $HOME; echo $0"),
        step("consume", command=["sh", "-c"], args=['echo "$1"; cat /tekton/steps/0/exitCode', "sh",
             "$(steps.produce.results.greeting)"]),
    ]  # fmt: skip
    result, obs = run(pod(tmp_path, steps))
    home, script = obs.output("step-produce", "stdout").decode().split()
    assert home == "/tekton/home"
    assert re.fullmatch(r"/tekton/scripts/script-0-[0-9a-f]+", script)
    assert final(result, "produce").results == {"greeting": "hi"}
    assert obs.output("step-consume", "stdout") == b"hi\n0"


def test_step_timeout_and_cancel_leave_no_process_behind(tmp_path: Path) -> None:
    m1, m2 = marker(), marker()
    timed = [step("slow", script=f"sleep {m1} & sleep {m1}", timeout=0.5)]
    result, _ = run(pod(tmp_path / "a", timed))
    assert final(result, "slow").termination_reason == "TimeoutExceeded"
    assert processes_matching(f"sleep {m1}") == []

    def cancel(state: ContainerState, stop: asyncio.Event) -> None:
        if state.container == "step-slow" and state.phase == "running":
            stop.set()

    cancelled = [step("slow", script=f"(setsid sleep {m2} &); sleep {m2} & wait")]
    result, _ = run(
        pod(tmp_path / "b", cancelled, sidecars=[sidecar("bg", script=f"sleep {m2}")]), on_state=cancel
    )
    assert result.cancelled
    assert processes_matching(f"sleep {m2}") == []


def test_sidecar_ready_after_probe_and_step_sees_its_file(tmp_path: Path, workspace: Path) -> None:
    m = marker()
    probe = Probe(argv=["test", "-s", "/workspace/src/ready"], period=0.05, initial_delay=0.1)
    mounts = [Mount(workspace, "/workspace/src")]
    sidecars = [sidecar("db", script=f"sleep 0.3; echo up > /workspace/src/ready; sleep {m}", readiness=probe,
                        mounts=mounts)]  # fmt: skip
    steps = [step("client", script="cat /workspace/src/ready", mounts=mounts)]
    result, obs = run(pod(tmp_path, steps, sidecars=sidecars))
    assert obs.output("step-client") == b"up\n"
    assert final(result, "db").phase == "terminated"
    assert processes_matching(f"sleep {m}") == []


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) missing: no memory limit")
def test_memory_limit_in_the_sandbox(tmp_path: Path) -> None:
    hog = "#!/usr/bin/env python3\nblock = bytearray(400 * 1024 * 1024)\nprint('allocated')\n"
    steps = [
        step("free", image="python", script=hog),
        step("limited", image="python", script=hog, memory_limit=128 * 1024 * 1024),
    ]
    result, obs = run(pod(tmp_path, steps))
    assert final(result, "free").exit_code == 0
    assert final(result, "limited").exit_code != 0
    assert b"MemoryError" in obs.output("step-limited", "stderr")


@pytest.fixture()
def tiny_rootfs(tmp_path: Path) -> Path:
    """A root filesystem with only dash and the libraries it needs (no /usr)."""
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy2("/usr/bin/dash", root / "bin" / "sh")
    ldd = subprocess.run(["ldd", "/usr/bin/dash"], capture_output=True, text=True, check=True).stdout
    for lib in re.findall(r"(/\S+\.so[.\d]*)", ldd):
        target = root / lib.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), target)
    (root / "etc" / "os-release").write_text("ID=tinyos\nVERSION_ID=1.0\n")
    return root


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is needed to build a test root filesystem")
def test_image_mapped_to_a_root_filesystem(tmp_path: Path, tiny_rootfs: Path) -> None:
    images = ImageConfig.from_yaml(
        f"- match: 'registry.local/tiny*'\n  run: rootfs:{tiny_rootfs}\n  entrypoint: [/bin/sh]\n"
    )
    steps = [step("a", image="registry.local/tiny:1", args=["-c", "echo /*"])]
    result, obs = run(pod(tmp_path / "run", steps), SandboxExecutor(images, grace=GRACE))
    state = final(result, "a")
    assert state.exit_code == 0, obs.output("step-a")
    entries = obs.output("step-a", "stdout").decode().split()
    assert "/usr" not in entries and "/bin" in entries and "/tekton" in entries
    assert state.image_id == f"rootfs://{tiny_rootfs}?os=tinyos-1.0"


def test_logs_persist_with_masking_in_the_sandbox(tmp_path: Path) -> None:
    secret = "pa55word-in-sandbox"
    _result, _obs = run(pod(tmp_path, [step("a", script=f"echo 'pw={secret}'")], secrets=[secret]))
    assert read(tmp_path, "step-a") == b"pw=***\n"


def test_alpine_scripts_get_an_ash_stand_in_inside_the_sandbox(tmp_path: Path) -> None:
    steps = [
        step("a", image="mirror.gcr.io/alpine", script='[ "x" == "x" ] && echo ash-like'),
        step("b", image="mirror.gcr.io/alpine", script="#!/usr/bin/env ash\necho $0"),
    ]
    result, obs = run(pod(tmp_path, steps))
    assert [s.exit_code for s in result.steps] == [0, 0]
    assert obs.output("step-a") == b"ash-like\n"
    assert obs.output("step-b").startswith(b"/tekton/scripts/")
