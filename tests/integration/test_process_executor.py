"""The ``process`` executor with real processes: Tekton's step semantics on the host."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tektite.executor.images import ImageConfig
from tektite.executor.limits import MemoryLimiter
from tektite.executor.logs import follow, read
from tektite.executor.plan import ContainerState, Mount, Pod, PodResult, Probe, WhenExpression
from tektite.executor.process import ProcessExecutor
from tektite.executor.testkit import RecordingObserver, final, pod, processes_matching, run_pod, sidecar, step
from tektite.executor.testkit import marker as unique_marker

GRACE = 0.5


def run(
    p: Pod,
    executor: ProcessExecutor | None = None,
    on_state: Callable[[ContainerState, asyncio.Event], None] | None = None,
    live_output: bool = True,
) -> tuple[PodResult, RecordingObserver]:
    return run_pod(p, executor or ProcessExecutor(grace=GRACE), on_state, live_output)


def marker() -> str:
    return unique_marker(9000)


def test_script_without_shebang_stops_at_the_first_failing_command(tmp_path: Path) -> None:
    result, obs = run(pod(tmp_path, [step("a", script="echo one\nfalse\necho two\n")]))
    state = final(result, "a")
    assert (state.exit_code, state.reason, state.termination_reason) == (1, "Error", "Error")
    assert obs.output("step-a", "stdout") == b"one\n"


def test_scripts_with_a_shebang_run_with_that_interpreter_and_get_args(tmp_path: Path) -> None:
    steps = [
        step("bash", script='#!/usr/bin/env bash\nif [[ "$1" == x ]]; then echo "bash:$1-$2"; fi\n', args=["x", "y"]),
        step("py", image="python", script="#!/usr/bin/env python3\nimport sys\nprint('py:' + ','.join(sys.argv[1:]))\n",
             args=["a b", "c"]),
        step("ash", image="alpine", script="#!/usr/bin/env ash\necho ash:ok\n"),
    ]  # fmt: skip
    result, obs = run(pod(tmp_path, steps))
    assert [s.termination_reason for s in result.steps] == ["Completed"] * 3
    assert obs.output("step-bash") == b"bash:x-y\n"
    assert obs.output("step-py") == b"py:a b,c\n"
    assert obs.output("step-ash") == b"ash:ok\n"


def test_command_args_and_image_entrypoint(tmp_path: Path) -> None:
    steps = [
        step("cmd", command=["printf", "%s|"], args=["a", "b"]),
        step("entry", image="mirror.gcr.io/ubuntu", args=["-c", "echo from-entrypoint"]),
        step("nop", image="ghcr.io/tektoncd/pipeline/nop-8eac7c133edad5df719dc37b36b62482@sha256:5a58"),
    ]
    result, obs = run(pod(tmp_path, steps))
    assert [s.exit_code for s in result.steps] == [0, 0, 0]
    assert obs.output("step-cmd") == b"a|b|"
    assert obs.output("step-entry") == b"from-entrypoint\n"
    assert obs.output("step-nop") != b""


def test_bash_image_entrypoint_runs_commands_or_passes_options_to_bash(tmp_path: Path) -> None:
    bash = "mirror.gcr.io/bash@sha256:e320b40b14abc61f053286705070342c46034a549a276b798e64541457c4af92"
    steps = [
        step("command", image=bash, args=["echo", "foo", "bar"]),
        step("options", image=bash, args=["-c", 'echo "${BASH_VERSION%%.*}" | grep -c "^[0-9]"']),
    ]
    result, obs = run(pod(tmp_path, steps))
    assert [s.exit_code for s in result.steps] == [0, 0]
    assert obs.output("step-command") == b"foo bar\n"
    assert obs.output("step-options") == b"1\n"  # ran by bash: $BASH_VERSION is set


def test_alpine_sh_is_an_ash_stand_in(tmp_path: Path) -> None:
    """alpine's /bin/sh is busybox ash, which accepts `==` in `[`; Debian's dash does not."""
    check = 'if [ "a" == "a" ]; then echo ash-like; fi'
    steps = [
        step("preamble", image="mirror.gcr.io/alpine", script=check),
        step("shebang", image="mirror.gcr.io/alpine", script=f"#!/bin/sh\n{check}\n"),
        step("env-shebang", image="mirror.gcr.io/alpine", script=f"#!/usr/bin/env sh\n{check}\n"),
        step("command", image="mirror.gcr.io/alpine", command=["/bin/sh", "-c"], args=[check]),
        step("entrypoint", image="mirror.gcr.io/busybox", args=["-c", check]),
    ]
    result, obs = run(pod(tmp_path, steps))
    for s in result.steps:
        assert (s.exit_code, obs.output(s.container)) == (0, b"ash-like\n"), s.container


def test_unknown_entrypoint_fails_the_step_naming_the_image_and_the_configmap(tmp_path: Path) -> None:
    result, obs = run(
        pod(tmp_path, [step("a", image="example.com/tool:1", args=["x"]), step("b", command=["true"])])
    )
    state = final(result, "a")
    assert state.termination_reason == "Error" and state.exit_code != 0
    assert state.message and "example.com/tool:1" in state.message and "tektite-images" in state.message
    assert b"tektite-images" in obs.output("step-a", "stderr")
    assert final(result, "b").termination_reason == "Skipped"


def test_missing_command_reports_127(tmp_path: Path) -> None:
    result, _ = run(pod(tmp_path, [step("a", command=["no-such-program-tektite"])]))
    assert final(result, "a").exit_code == 127
    assert "no-such-program-tektite" in (final(result, "a").message or "")


def test_exit_codes_are_written_where_later_steps_read_them(tmp_path: Path) -> None:
    steps_dir = tmp_path / "tekton" / "steps"
    steps = [
        step("first", script="exit 7", on_error="continue"),
        step("second", script=f"cat {steps_dir}/step-first/exitCode; echo; cat {steps_dir}/0/exitCode"),
        step("third", script="exit 3"),
        step("fourth", script=f"touch {tmp_path}/fourth-ran"),
    ]
    result, obs = run(pod(tmp_path, steps))
    first, _second, third, fourth = result.steps
    assert (first.exit_code, first.reason, first.termination_reason) == (7, "Completed", "Continued")
    assert obs.output("step-second") == b"7\n7"
    assert (third.exit_code, third.termination_reason) == (3, "Error")
    assert (steps_dir / "step-third" / "exitCode").read_text() == "3"
    assert (fourth.exit_code, fourth.termination_reason, fourth.phase) == (1, "Skipped", "terminated")
    assert not (tmp_path / "fourth-ran").exists()
    assert not result.cancelled and not result.timed_out and result.error is None


def test_states_are_reported_live_running_then_terminated(tmp_path: Path) -> None:
    _result, obs = run(pod(tmp_path, [step("a", script="echo hi")]))
    phases = [(s.phase, s.exit_code) for s in obs.states_of("step-a")]
    assert phases == [("running", None), ("terminated", 0)]
    done = obs.states_of("step-a")[-1]
    assert (
        done.started_at
        and done.finished_at
        and done.finished_at.endswith("Z")
        and len(done.finished_at) == 20
    )
    assert done.image_id.startswith("host://")


@pytest.mark.parametrize("live_output", [True, False], ids=["piped", "straight-to-log"])
def test_step_timeout_kills_the_step_and_its_grandchildren(tmp_path: Path, live_output: bool) -> None:
    m = marker()
    steps = [step("slow", script=f"sleep {m} &\nsleep {m}\n", timeout=0.5), step("after", script="echo no")]
    result, _ = run(pod(tmp_path, steps), live_output=live_output)
    slow = final(result, "slow")
    assert (slow.exit_code, slow.termination_reason) == (1, "TimeoutExceeded")
    assert final(result, "after").termination_reason == "Skipped"
    assert b"step timed out after 0.5s" in read(tmp_path, "step-slow")
    assert (tmp_path / "logs" / "step-after.log").exists() is False
    assert processes_matching(f"sleep {m}") == []


def test_without_live_listeners_output_goes_straight_to_the_log_in_the_order_written(tmp_path: Path) -> None:
    """The engine's observer takes no chunks: stdout and stderr share the log file itself, so
    their order is exactly the order of the writes, and tektite's own notes land there too."""
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done\n"
    steps = [step("a", script=script), step("b", command=["no-such-command-here"])]
    result, obs = run(pod(tmp_path, steps), live_output=False)
    assert read(tmp_path, "step-a") == b"out1\nerr1\nout2\nerr2\nout3\nerr3\n"
    assert final(result, "b").exit_code == 127
    assert b"cannot run 'no-such-command-here'" in read(tmp_path, "step-b")
    assert [c for c in obs.chunks if c[0] == "step-a"] == []  # nothing went through tektite


def test_secrets_are_masked_without_live_listeners_too(tmp_path: Path) -> None:
    p = pod(tmp_path, [step("a", script="printf 'tok'; printf 'en-s3cr3t\\n'")], secrets=["token-s3cr3t"])
    run(p, live_output=False)
    assert read(tmp_path, "step-a") == b"***\n"


def test_pod_timeout_stops_everything(tmp_path: Path) -> None:
    m = marker()
    steps = [step("slow", script=f"sleep {m} & sleep {m}"), step("next", script="echo no")]
    sidecars = [sidecar("bg", script=f"sleep {m}")]
    result, _ = run(pod(tmp_path, steps, sidecars=sidecars, timeout=0.5))
    assert result.timed_out and not result.cancelled
    assert [s.termination_reason for s in result.steps] == ["TaskRunTimeout", "TaskRunTimeout"]
    assert final(result, "slow").started_at is not None and final(result, "next").started_at is None
    assert final(result, "bg").phase == "terminated"
    assert processes_matching(f"sleep {m}") == []


def test_stop_cancels_the_running_step_and_leaves_nothing_behind(tmp_path: Path) -> None:
    m = marker()

    def cancel_once_running(state: ContainerState, stop: asyncio.Event) -> None:
        if state.container == "step-slow" and state.phase == "running":
            stop.set()

    steps = [step("slow", script=f"(setsid sleep {m} &) ; sleep {m} & wait"), step("next", script="echo no")]
    result, _ = run(pod(tmp_path, steps), on_state=cancel_once_running)
    assert result.cancelled and not result.timed_out
    assert [s.termination_reason for s in result.steps] == ["TaskRunCancelled", "TaskRunCancelled"]
    assert processes_matching(f"sleep {m}") == []


def test_sidecar_readiness_probe_gates_the_steps(tmp_path: Path) -> None:
    m = marker()
    ready = tmp_path / "ready"
    probe = Probe(argv=["test", "-s", str(ready)], period=0.05)
    sidecars = [sidecar("server", script=f"sleep 0.3\necho up > {ready}\nsleep {m}\n", readiness=probe)]
    steps = [step("client", script=f"cat {ready}")]
    result, obs = run(pod(tmp_path, steps, sidecars=sidecars))
    assert final(result, "client").exit_code == 0
    assert obs.output("step-client") == b"up\n"
    server = final(result, "server")
    assert server.phase == "terminated" and server.message and "stopped" in server.message
    assert processes_matching(f"sleep {m}") == []


def test_sidecar_failing_before_ready_fails_the_pod(tmp_path: Path) -> None:
    probe = Probe(argv=["false"], period=0.05)
    sidecars = [sidecar("broken", script="echo cannot start >&2; exit 4", readiness=probe)]
    result, obs = run(pod(tmp_path, [step("a", script=f"touch {tmp_path}/ran")], sidecars=sidecars))
    assert result.error and "broken" in result.error and "4" in result.error
    assert final(result, "a").termination_reason == "Skipped"
    assert not (tmp_path / "ran").exists()
    assert obs.output("sidecar-broken", "stderr") == b"cannot start\n"


def test_secrets_are_masked_even_when_split_across_writes(tmp_path: Path) -> None:
    secret = "hunter2-very-secret"
    multi = "first-line-AAAA\nsecond-line-BBBB"
    script = (
        f"printf '%s' 'token={secret[:7]}'\nsleep 0.2\nprintf '%s\\n' '{secret[7:]} end'\n"
        f"echo 'key part: second-line-BBBB' >&2\n"
    )
    result, obs = run(pod(tmp_path, [step("a", script=script)], secrets=[secret, multi]))
    assert final(result, "a").exit_code == 0
    assert obs.output("step-a", "stdout") == b"token=*** end\n"
    assert obs.output("step-a", "stderr") == b"key part: ***\n"
    stored = read(tmp_path, "step-a")
    assert secret.encode() not in stored and b"second-line-BBBB" not in stored
    assert all(secret[:7].encode() + secret[7:].encode() not in d for _, _, d in obs.chunks)


def test_environment_is_clean_and_minimal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTITE_TEST_LEAK", "should-not-be-seen")
    _result, obs = run(pod(tmp_path, [step("a", script="env | sort", env={"FOO": "bar"})], name="env-pod"))
    env = dict(line.split("=", 1) for line in obs.output("step-a").decode().splitlines() if "=" in line)
    assert "TEKTITE_TEST_LEAK" not in env
    assert env["FOO"] == "bar"
    assert env["HOSTNAME"] == "env-pod"
    assert env["HOME"] == str(tmp_path / "tekton" / "home")
    assert str(tmp_path / "tekton" / "bin") in env["PATH"]


def test_working_dir_is_created_on_a_volume(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    steps = [step("a", script="pwd", working_dir="/workspace/src/sub")]
    _result, obs = run(pod(tmp_path, steps, mounts=[Mount(ws, "/workspace/src")]))
    assert obs.output("step-a") == f"{ws / 'sub'}\n".encode()


def test_home_is_writable_whatever_the_working_dir(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    steps = [step("a", script='echo hi > "$HOME/f"; cat "$HOME/f"', working_dir="/workspace/src")]
    _result, obs = run(pod(tmp_path, steps, mounts=[Mount(ws, "/workspace/src")]))
    assert obs.output("step-a") == b"hi\n"


def test_stdout_config_copies_the_stream_to_a_file(tmp_path: Path) -> None:
    results = tmp_path / "tekton" / "results"
    steps = [
        step(
            "a",
            script="echo out; echo err >&2",
            stdout_path=f"{results}/out",
            stderr_path="/tekton/results/err",
        )
    ]
    _result, obs = run(pod(tmp_path, steps))
    assert (results / "out").read_text() == "out\n"
    assert (results / "err").read_text() == "err\n"  # a container path, mapped through the mounts
    assert obs.output("step-a", "stdout") == b"out\n"


def test_step_results_reach_later_steps_and_their_when(tmp_path: Path) -> None:
    res = tmp_path / "tekton" / "steps" / "step-produce" / "results"
    steps = [
        step("produce", script=f"printf yes > {res}/answer; printf '[\"a\",\"b\"]' > {res}/list"),
        step("use", image="ubuntu", command=["echo"], args=["$(steps.produce.results.answer)",
             "$(steps.produce.results.list[*])"]),
        step("guarded", script="echo ran", when=[WhenExpression("$(steps.produce.results.answer)", "in", ["yes"])]),
        step("skipped", script="echo ran", when=[WhenExpression("$(steps.produce.results.answer)", "notin", ["yes"])]),
        step("last", script="echo last"),
    ]  # fmt: skip
    result, obs = run(pod(tmp_path, steps))
    assert final(result, "produce").results == {"answer": "yes", "list": '["a","b"]'}
    assert obs.output("step-use") == b"yes a b\n"
    assert obs.output("step-guarded") == b"ran\n"
    skipped = final(result, "skipped")
    assert (skipped.exit_code, skipped.reason, skipped.termination_reason) == (0, "Completed", "Skipped")
    assert obs.output("step-skipped") == b""
    assert final(result, "last").termination_reason == "Completed"


MEMORY_HOG = "#!/usr/bin/env python3\nblock = bytearray(400 * 1024 * 1024)\nprint('allocated', len(block))\n"


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) missing: no memory limit")
def test_memory_limit_stops_a_step_that_allocates_too_much(tmp_path: Path) -> None:
    steps = [
        step("unlimited", image="python", script=MEMORY_HOG),
        step("limited", image="python", script=MEMORY_HOG, memory_limit=128 * 1024 * 1024),
    ]
    result, obs = run(pod(tmp_path, steps))
    assert final(result, "unlimited").exit_code == 0
    assert final(result, "limited").exit_code != 0
    assert b"MemoryError" in obs.output("step-limited", "stderr")


@pytest.fixture()
def open_run_dir() -> Iterator[Path]:
    """A run directory other users can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="tektite-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_run_as_user_is_honoured_as_root(open_run_dir: Path) -> None:
    results = open_run_dir / "tekton" / "results"
    steps = [step("a", script=f"id -u; id -g; echo x > {results}/r", run_as_user=1000, run_as_group=2000)]
    result, obs = run(pod(open_run_dir, steps))
    assert final(result, "a").exit_code == 0, obs.output("step-a")
    assert obs.output("step-a", "stdout") == b"1000\n2000\n"
    assert (results / "r").stat().st_uid == 1000


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_hermetic_steps_have_no_network_when_root(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        connect = f"#!/usr/bin/env bash\nexec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
        open_result, _ = run(pod(tmp_path / "a", [step("a", script=connect)]))
        sealed_result, _ = run(pod(tmp_path / "b", [step("a", script=connect)], hermetic=True))
    finally:
        server.close()
    assert final(open_result, "a").exit_code == 0
    assert final(sealed_result, "a").exit_code != 0


def test_rootfs_images_need_the_sandbox(tmp_path: Path) -> None:
    images = ImageConfig.from_yaml(f"- match: 'registry.local/*'\n  run: rootfs:{tmp_path}\n")
    result, _ = run(pod(tmp_path, [step("a", image="registry.local/app")]), ProcessExecutor(images))
    assert result.error and "sandbox" in result.error and "registry.local/app" in result.error


@pytest.mark.parametrize("live_output", [True, False], ids=["piped", "straight-to-log"])
def test_logs_are_persisted_and_can_be_followed_live(tmp_path: Path, live_output: bool) -> None:
    """A follower sees the first line while the step still runs: the step waits for proof of it."""
    seen = tmp_path / "follower-saw-first-line"
    script = f"echo first\nwhile [ ! -e {seen} ]; do sleep 0.02; done\necho second\n"
    p = pod(tmp_path, [step("a", script=script)])

    async def scenario() -> bytes:
        done = False
        executor = ProcessExecutor(grace=GRACE)

        async def execute() -> None:
            nonlocal done
            await executor.run(p, RecordingObserver(live_output=live_output), asyncio.Event())
            done = True

        async def tail() -> bytes:
            out = b""
            async for _, data in follow(tmp_path, ["step-a"], lambda: done, poll_interval=0.02):
                out += data
                if b"first" in out:
                    seen.touch()
            return out

        _, out = await asyncio.wait_for(asyncio.gather(execute(), tail()), timeout=60)
        return out

    assert asyncio.run(scenario()) == b"first\nsecond\n"
    assert read(tmp_path, "step-a") == b"first\nsecond\n"


def test_cancelling_the_run_task_still_cleans_up(tmp_path: Path) -> None:
    m = marker()
    started = tmp_path / "started"
    p = pod(tmp_path, [step("slow", script=f"touch {started}; sleep {m} & sleep {m}")],
            sidecars=[sidecar("bg", script=f"sleep {m}")])  # fmt: skip

    async def scenario() -> None:
        task = asyncio.create_task(ProcessExecutor(grace=GRACE).run(p, RecordingObserver(), asyncio.Event()))
        while not started.exists():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert processes_matching(f"sleep {m}") == []


def test_sidecar_without_probe_is_ready_once_started_and_probe_failures_can_fail_the_pod(
    tmp_path: Path,
) -> None:
    result, _obs = run(
        pod(tmp_path / "a", [step("a", script="echo step")], sidecars=[sidecar("s", script="sleep 30")])
    )
    assert final(result, "a").exit_code == 0 and result.error is None
    probe = Probe(argv=["false"], period=0.01, failure_threshold=3)
    result, _ = run(pod(tmp_path / "b", [step("a", script="echo step")],
                        sidecars=[sidecar("s", script="sleep 30", readiness=probe)]))  # fmt: skip
    assert result.error and "3 times" in result.error
    assert final(result, "a").termination_reason == "Skipped"


def test_sidecar_without_probe_gets_to_run_its_first_commands_before_the_steps(tmp_path: Path) -> None:
    m = marker()
    shared = tmp_path / "message"
    sidecars = [sidecar("writer", script=f"echo hello > {shared}\nsleep {m}\n")]
    result, obs = run(pod(tmp_path / "p", [step("reader", script=f"cat {shared}")], sidecars=sidecars))
    assert final(result, "reader").exit_code == 0
    assert obs.output("step-reader") == b"hello\n"
    assert processes_matching(f"sleep {m}") == []


def test_status_messages_are_masked_too(tmp_path: Path) -> None:
    secret = "tok-123456789"
    result, _obs = run(pod(tmp_path, [step("a", command=[f"run-{secret}"])], secrets=[secret]))
    state = final(result, "a")
    assert state.exit_code == 127
    assert state.message and "***" in state.message and secret not in state.message
    assert secret.encode() not in read(tmp_path, "step-a")


def test_cgroup_v2_limit_wiring_with_a_stand_in_cgroup(tmp_path: Path) -> None:
    """Without a delegated cgroup v2 here, a plain directory stands in for one: the step joins the
    child cgroup before it runs, and an OOM kill recorded in memory.events is reported as such."""
    parent = tmp_path / "cgroup-parent"
    parent.mkdir()
    (parent / "cgroup.subtree_control").write_text("memory")
    script = (
        f"for d in {parent}/tektite-step-hog-*; do\n"
        '  [ "$(cat $d/cgroup.procs)" = "$$" ] && echo joined\n'
        "  cat $d/memory.max; echo\n"
        '  printf "oom 1\\noom_kill 1\\n" > $d/memory.events\n'
        "done\n"
        "kill -9 $$\n"
    )
    steps = [step("hog", script=script, memory_limit=64 * 1024 * 1024)]
    result, obs = run(
        pod(tmp_path / "run", steps), ProcessExecutor(limiter=MemoryLimiter(parent), grace=GRACE)
    )
    hog = final(result, "hog")
    assert obs.output("step-hog", "stdout") == f"joined\n{64 * 1024 * 1024}\n".encode()
    assert (hog.exit_code, hog.reason, hog.termination_reason) == (137, "OOMKilled", "Error")


def test_an_observer_failure_surfaces_and_nothing_is_left_running(tmp_path: Path) -> None:
    m = marker()

    def broken(container: str, stream: str, data: bytes) -> None:
        raise RuntimeError("observer broke")

    p = pod(
        tmp_path,
        [step("a", script=f"echo hi; sleep {m} & wait")],
        sidecars=[sidecar("s", script=f"sleep {m}")],
    )

    async def scenario() -> None:
        observer = RecordingObserver(on_log=broken)
        with pytest.raises(RuntimeError, match="observer broke"):
            await ProcessExecutor(grace=GRACE).run(p, observer, asyncio.Event())

    asyncio.run(scenario())
    assert processes_matching(f"sleep {m}") == []
