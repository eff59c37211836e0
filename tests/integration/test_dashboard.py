"""The dashboard in headless Chromium, against a real server running real runs.

One dashboard process (uvicorn + engine, ``process`` executor) serves a home where this module
applies Tasks, Pipelines and runs; the browser logs in with tokens of each role. Expected values
come from the store (the runs' own conditions and labels), never from the dashboard's code.
Screenshots: ``tests/artifacts/screenshots/dashboard-*.png``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import Env, browser_context, condition, dashboard_env, finished, screenshot, taskrun, wait_for
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tektite.api.loader import load_text
from tektite.errors import Conflict
from tektite.server.dashboard.graph import build_graph
from tektite.server.dashboard.keys import PublicKeys
from tektite.server.dashboard.listing import RunQuery, list_runs
from tektite.server.dashboard.provenance import provenance
from tektite.store.sql import SQLStore

__all__ = ["browser_context", "dashboard_env"]


@pytest.fixture(scope="module")
def env(dashboard_env: Env) -> Env:
    return dashboard_env


def login(page: Any, env: Env, role: str) -> None:
    page.goto(env.server.url)
    page.locator("#token").fill(env.server.tokens[role])
    page.locator("#login-form button[type=submit]").click()
    page.locator("#who").get_by_text(f"{role}-user ({role})").wait_for()


def rows(page: Any) -> list[str]:
    return page.locator("#runs-table tbody tr").evaluate_all("els => els.map(e => e.dataset.run)")


def wait_rows(page: Any, expected: set[str]) -> list[str]:
    """Until the table shows exactly ``expected`` (it refreshes itself)."""
    deadline = time.monotonic() + 20
    while True:
        page.locator("#runs-table, #no-runs").first.wait_for()
        got = rows(page)
        if set(got) == expected and len(got) == len(expected):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"rows {sorted(got)} != expected {sorted(expected)}")
        time.sleep(0.2)


def key(obj: dict[str, Any]) -> str:
    return f"default/{obj['kind']}/{obj['metadata']['name']}"


# ------------------------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.slow
def test_login_is_required_and_a_wrong_token_is_refused(env: Env, browser_context: Any) -> None:
    page = browser_context.new_page()
    page.goto(env.server.url)
    page.locator("#login-form").wait_for()
    page.locator("#token").fill("tkt_not-a-real-token")
    page.locator("#login-form button[type=submit]").click()
    page.locator("#login-error").get_by_text("not valid").wait_for()
    assert page.locator("#runs-table").count() == 0
    login(page, env, "view")
    page.locator("#runs-table").wait_for()
    screenshot(page, "dashboard-runs-list")
    cookie = next(c for c in browser_context.cookies() if c["name"] == "tektite-token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.locator("#logout").click()
    page.locator("#login-form").wait_for()
    with env.server.client() as anonymous:
        assert anonymous.get("api/runs").status_code == 401


@pytest.mark.browser
@pytest.mark.slow
def test_filters_by_kind_status_pipeline_and_label(env: Env, browser_context: Any) -> None:
    page = browser_context.new_page()
    login(page, env, "view")
    taskruns, pipelineruns = env.all_runs("TaskRun"), env.all_runs("PipelineRun")

    page.locator("#f-kind").select_option("TaskRun")
    page.locator("#f-status").select_option("Failed")
    page.locator("#apply").click()
    failed = {key(t) for t in taskruns if condition(t).get("status") == "False"}
    assert len(failed) == 3  # two `fail` TaskRuns and the `bad` task of the `breaks` pipeline
    wait_rows(page, failed)
    assert set(
        page.locator("#runs-table tbody tr").evaluate_all("els => els.map(e => e.dataset.status)")
    ) == {"Failed"}
    screenshot(page, "dashboard-filter-failed-taskruns")

    page.locator("#f-status").select_option("")
    page.locator("#f-kind").select_option("PipelineRun")
    page.locator("#f-pipeline").fill("demo")
    page.locator("#apply").click()
    wait_rows(page, {key(p) for p in pipelineruns if p["spec"]["pipelineRef"]["name"] == "demo"})

    page.locator("#f-kind").select_option("")
    page.locator("#f-pipeline").fill("")
    page.locator("#f-label").fill("team=red")
    page.locator("#apply").click()
    red = {
        key(r) for r in taskruns + pipelineruns if (r["metadata"].get("labels") or {}).get("team") == "red"
    }
    assert any(k.split("/")[1] == "PipelineRun" for k in red) and any(
        k.split("/")[1] == "TaskRun" for k in red
    )
    wait_rows(page, red)

    page.locator("#f-label").fill("team in (")
    page.locator("#apply").click()
    page.locator("#runs-error").get_by_text("label").wait_for()


@pytest.mark.browser
@pytest.mark.slow
def test_pagination_walks_every_run_once_newest_first(env: Env, browser_context: Any) -> None:
    page = browser_context.new_page()
    login(page, env, "view")
    page.goto(env.server.url + "#/?kind=TaskRun&limit=5")
    seen: list[str] = []
    pages: list[list[str]] = []
    while True:
        page.locator(f"#runs-table[data-page='{len(pages) + 1}']").wait_for()
        got = rows(page)
        pages.append(got)
        seen += got
        if page.locator("#next").is_disabled():
            break
        page.locator("#next").click()
    everything = env.all_runs("TaskRun")
    assert len(seen) == len(set(seen)) == len(everything)
    assert set(seen) == {key(t) for t in everything}
    assert all(len(p) == 5 for p in pages[:-1])
    created = {key(t): t["metadata"]["creationTimestamp"] for t in everything}
    stamps = [created[k] for k in seen]
    assert stamps == sorted(stamps, reverse=True)
    page.locator("#prev").click()
    page.locator(f"#runs-table[data-page='{len(pages) - 1}']").wait_for()
    assert rows(page) == pages[-2]
    screenshot(page, "dashboard-pagination")


@pytest.mark.browser
@pytest.mark.slow
def test_pipelinerun_page_draws_the_dag_with_each_tasks_status(env: Env, browser_context: Any) -> None:
    page = browser_context.new_page()
    login(page, env, "view")
    prs = env.all_runs("PipelineRun")
    demo = next(p for p in prs if (p["metadata"].get("labels") or {}).get("team") == "red")
    name = demo["metadata"]["name"]
    page.goto(env.server.url + f"#/run/default/PipelineRun/{name}")
    page.locator("#dag svg g.node").first.wait_for()
    children = {
        t["metadata"]["labels"]["tekton.dev/pipelineTask"]: t
        for t in env.store.list("TaskRun", "default", label_selector=f"tekton.dev/pipelineRun={name}").items
    }
    assert set(children) == {"a", "b", "c", "f"}
    for task in ("a", "b", "c", "f"):
        node = page.locator(f"#dag g.node[data-task='{task}']")
        assert node.get_attribute("data-status") == "Succeeded" == condition(children[task]).get("reason")
    assert page.locator("#dag path[data-edge='a->b']").count() == 1  # runAfter
    assert page.locator("#dag path[data-edge='a->c']").count() == 1  # $(tasks.a.results.out)
    box = {t: page.locator(f"#dag g.node[data-task='{t}']").bounding_box() for t in ("a", "b", "c", "f")}
    assert box["a"]["x"] < box["b"]["x"] and box["a"]["x"] < box["c"]["x"]
    assert box["f"]["x"] > max(box[t]["x"] for t in ("a", "b", "c"))  # finally comes last
    params = page.locator("#params").inner_text()
    assert "who" in params and "moon" in params
    results = page.locator("#results").inner_text()
    final = {r["name"]: r["value"] for r in env.get("PipelineRun", name)["status"]["results"]}
    assert "final" in results and final["final"] in results
    assert "emptyDir" in page.locator("#workspaces").inner_text()
    screenshot(page, "dashboard-pipelinerun-dag")

    broken = next(p for p in prs if p["spec"]["pipelineRef"]["name"] == "breaks")
    page.goto(env.server.url + f"#/run/default/PipelineRun/{broken['metadata']['name']}")
    page.locator("#dag g.node[data-task='after-bad']").wait_for()
    assert page.locator("#dag g.node[data-task='ok']").get_attribute("data-status") == "Succeeded"
    assert page.locator("#dag g.node[data-task='bad']").get_attribute("data-status") == "Failed"
    assert page.locator("#dag g.node[data-task='after-bad']").get_attribute("data-status") not in (
        "Succeeded",
        "Running",
    )
    screenshot(page, "dashboard-pipelinerun-failed")

    page.locator("#dag g.node[data-task='bad']").click()
    page.locator("#run-name").get_by_text(f"{broken['metadata']['name']}-bad").wait_for()
    page.locator("#logs pre[data-container='step-boom']").get_by_text("about to fail").wait_for()
    assert page.locator("#steps tr[data-step='boom']").get_attribute("data-status") == "Failed"


@pytest.mark.browser
@pytest.mark.slow
def test_step_logs_stream_live_while_the_step_runs(env: Env, browser_context: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    tr = env.create(taskrun("gated", params={"gate": str(gate)}))
    name = tr["metadata"]["name"]
    page = browser_context.new_page()
    login(page, env, "view")
    page.goto(env.server.url + f"#/run/default/TaskRun/{name}")
    log = page.locator("#logs pre[data-container='step-wait']")
    log.get_by_text("first line").wait_for()
    # the step is blocked on the gate: what the page shows came while it runs, not after
    assert "tick" not in log.inner_text()
    assert not finished(env.get("TaskRun", name))
    page.locator("#run-header .badge[data-status='Running']").wait_for()
    screenshot(page, "dashboard-logs-live")
    gate.touch()
    log.get_by_text("tick 3").wait_for()
    page.locator("#logs[data-ended='Succeeded']").wait_for()
    text = log.inner_text()
    assert text.index("first line") < text.index("tick 1") < text.index("tick 2") < text.index("tick 3")
    assert env.wait_done("TaskRun", name)["status"]["conditions"][0]["reason"] == "Succeeded"
    screenshot(page, "dashboard-logs-done")


@pytest.mark.browser
@pytest.mark.slow
def test_view_role_cannot_cancel_and_edit_role_can(env: Env, browser_context: Any) -> None:
    tr = env.create(taskrun("sleeper"))
    name = tr["metadata"]["name"]
    wait_for("the sleeper to run", lambda: (env.get("TaskRun", name).get("status") or {}).get("startTime"))
    page = browser_context.new_page()
    login(page, env, "view")
    page.goto(env.server.url + f"#/run/default/TaskRun/{name}")
    page.locator("#run-header .badge[data-status='Running']").wait_for()
    assert page.locator("#cancel").count() == 0
    assert page.locator("#rerun").count() == 0
    screenshot(page, "dashboard-view-role")
    with env.server.client("view") as viewer:
        headers = {"X-Requested-By": "test"}
        assert viewer.post(f"api/runs/default/TaskRun/{name}/cancel", headers=headers).status_code == 403
        # refused before the lookup: a view user cannot probe which runs exist
        assert viewer.post("api/runs/default/TaskRun/no-such-run/cancel", headers=headers).status_code == 403
    with env.server.client() as anonymous:
        assert anonymous.post(f"api/runs/default/TaskRun/{name}/cancel", headers=headers).status_code == 401
    assert "status" not in env.get("TaskRun", name)["spec"]

    page.locator("#logout").click()
    login(page, env, "edit")
    page.goto(env.server.url + f"#/run/default/TaskRun/{name}")
    page.locator("#cancel").click()
    page.locator("#run-header .badge[data-status='Cancelled']").wait_for()
    final = env.wait_done("TaskRun", name)
    assert final["spec"]["status"] == "TaskRunCancelled"
    assert condition(final)["reason"] == "TaskRunCancelled"
    assert page.locator("#cancel").count() == 0
    screenshot(page, "dashboard-cancelled")


@pytest.mark.browser
@pytest.mark.slow
def test_rerun_creates_a_new_run_that_runs(env: Env, browser_context: Any) -> None:
    old = next(
        p for p in env.all_runs("PipelineRun") if (p["metadata"].get("labels") or {}).get("team") == "red"
    )
    old_name = old["metadata"]["name"]
    before = {p["metadata"]["name"] for p in env.all_runs("PipelineRun")}
    page = browser_context.new_page()
    login(page, env, "edit")
    page.goto(env.server.url + f"#/run/default/PipelineRun/{old_name}")
    page.locator("#rerun").click()
    page.wait_for_function(
        f"() => location.hash.startsWith('#/run/default/PipelineRun/') && !location.hash.endsWith('/{old_name}')"
    )
    new_name = page.evaluate("() => decodeURIComponent(location.hash.split('/').pop())")
    assert new_name not in before
    new = env.wait_done("PipelineRun", new_name)
    assert condition(new)["status"] == "True"
    assert new["metadata"]["labels"]["dashboard.tekton.dev/rerunOf"] == old_name
    assert new["metadata"]["labels"]["team"] == "red"
    assert new["spec"]["params"] == old["spec"]["params"]
    page.locator("#run-header .badge[data-status='Succeeded']").wait_for()
    page.locator("#dag g.node[data-task='f'][data-status='Succeeded']").wait_for()
    screenshot(page, "dashboard-rerun")

    child = f"{old_name}-a"
    page.goto(env.server.url + f"#/run/default/TaskRun/{child}")
    page.locator("#parent").wait_for()
    assert page.locator("#rerun").count() == 0  # a pipeline's TaskRun is rerun through its PipelineRun


@pytest.mark.browser
@pytest.mark.slow
def test_rerun_from_failure_reuses_the_tasks_that_succeeded(env: Env, browser_context: Any) -> None:
    old = next(p for p in env.all_runs("PipelineRun") if p["spec"]["pipelineRef"]["name"] == "breaks")
    old_name = old["metadata"]["name"]
    page = browser_context.new_page()
    login(page, env, "edit")
    good = next(p for p in env.all_runs("PipelineRun") if condition(p).get("status") == "True")
    page.goto(env.server.url + f"#/run/default/PipelineRun/{good['metadata']['name']}")
    page.locator("#rerun").wait_for()
    assert page.locator("#rerun-from-failure").count() == 0  # offered for runs that did not succeed

    page.goto(env.server.url + f"#/run/default/PipelineRun/{old_name}")
    page.locator("#rerun-from-failure").click()
    page.wait_for_function(
        f"() => location.hash.startsWith('#/run/default/PipelineRun/') && !location.hash.endsWith('/{old_name}')"
    )
    new_name = page.evaluate("() => decodeURIComponent(location.hash.split('/').pop())")
    new = env.wait_done("PipelineRun", new_name)
    assert condition(new)["status"] == "False"  # `bad`'s Task is unchanged: it fails again
    assert new["metadata"]["annotations"]["tektite.dev/reuse-pipelinerun"] == old_name
    children = {
        t["metadata"]["labels"]["tekton.dev/pipelineTask"]: t
        for t in env.store.list(
            "TaskRun", "default", label_selector=f"tekton.dev/pipelineRun={new_name}"
        ).items
    }
    ok, bad = children["ok"], children["bad"]
    assert ok["metadata"]["annotations"]["tektite.dev/reused-taskrun"] == f"{old_name}-ok"
    assert ok["status"]["startTime"] == env.get("TaskRun", f"{old_name}-ok")["status"]["startTime"]
    assert "tektite.dev/reused-taskrun" not in bad["metadata"]["annotations"]  # failed before: ran again
    assert condition(bad)["status"] == "False"
    page.locator("#run-header .badge[data-status='Failed']").wait_for()
    page.locator(f"#tasks tr[data-task='ok'][data-reused='{old_name}-ok']").wait_for()
    node = page.locator("#dag g.node[data-task='ok']")
    assert node.get_attribute("data-reused") == "true"
    assert "reused" in node.locator("text[data-role='detail']").text_content()
    assert page.locator("#dag g.node[data-task='bad']").get_attribute("data-reused") == ""
    assert page.locator("#tasks tr[data-task='bad']").get_attribute("data-reused") == ""
    screenshot(page, "dashboard-rerun-from-failure")


def _chains_annotate(env: Env, run: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> None:
    """Annotate ``run`` as Tekton Chains' tekton storage does, signing a DSSE envelope with
    ``cryptography`` directly (PAE per the DSSE spec): code independent of tektite's signer."""
    meta = run["metadata"]
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "example.com/app", "digest": {"sha256": "ab" * 32}}],
        "predicate": {"buildType": "tekton.dev/v1beta1/TaskRun", "invocation": {"parameters": {}}},
    }
    payload = json.dumps(statement).encode()
    ptype = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %b %d %b" % (len(ptype), ptype, len(payload), payload)
    sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": ptype.decode(),
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
    }
    suffix = f"taskrun-{meta['uid']}"
    for _ in range(10):
        current = env.get("TaskRun", meta["name"])
        current["metadata"].setdefault("annotations", {}).update(
            {
                "chains.tekton.dev/signed": "true",
                f"chains.tekton.dev/payload-{suffix}": base64.b64encode(payload).decode(),
                f"chains.tekton.dev/signature-{suffix}": base64.b64encode(
                    json.dumps(envelope).encode()
                ).decode(),
            }
        )
        try:
            env.store.update(current)
            return
        except Conflict:  # a concurrent label write: read again
            time.sleep(0.05)
    raise AssertionError("could not annotate the run")


@pytest.mark.browser
@pytest.mark.slow
def test_provenance_signature_status_is_shown_with_the_reason(env: Env, browser_context: Any) -> None:
    chains_key = ec.generate_private_key(ec.SECP256R1())
    pem = chains_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "signing-secrets", "namespace": "tekton-chains"},
        "data": {"x509.pem": base64.b64encode(pem).decode()},
    }
    env.cluster.apply(load_text(yaml.safe_dump(secret), "secret.yaml"))
    echo_runs = [t for t in env.all_runs("TaskRun") if t["metadata"]["name"].startswith("echo-run-")]
    good, forged = echo_runs[0], echo_runs[1]
    _chains_annotate(env, good, chains_key)
    _chains_annotate(env, forged, ec.generate_private_key(ec.SECP256R1()))

    page = browser_context.new_page()
    login(page, env, "view")
    page.goto(env.server.url + f"#/run/default/TaskRun/{good['metadata']['name']}")
    box = page.locator("#provenance[data-verified='true']")
    box.wait_for()
    assert "Signature verified" in page.locator("#verdict").inner_text()
    assert "signing-secrets" in page.locator("#verdict-reason").inner_text()
    assert page.locator("#predicate-type").inner_text() == "https://slsa.dev/provenance/v0.2"
    screenshot(page, "dashboard-provenance-verified")

    page.goto(env.server.url + f"#/run/default/TaskRun/{forged['metadata']['name']}")
    page.locator("#provenance[data-verified='false']").wait_for()
    assert "not verified" in page.locator("#verdict").inner_text()
    assert "bad signature" in page.locator("#verdict-reason").inner_text()
    screenshot(page, "dashboard-provenance-forged")


def _public_keys_chains_may_use(env: Env) -> list[ec.EllipticCurvePublicKey]:
    keys = []
    secret = env.store.try_get("Secret", "signing-secrets", "tekton-chains")
    pems = [base64.b64decode(secret["data"]["x509.pem"])] if secret else []
    home_key = env.server.home / "keys" / "x509.pem"
    if home_key.exists():
        pems.append(home_key.read_bytes())
    for pem in pems:
        private = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        keys.append(private.public_key())
    return keys


@pytest.mark.browser
@pytest.mark.slow
def test_provenance_of_a_run_signed_by_chains(env: Env, browser_context: Any) -> None:
    if importlib.util.find_spec("tektite.chains.watcher") is None:
        pytest.skip("tektite.chains.watcher is not there yet: tektite serve signs nothing")
    tr = env.create(taskrun("echo", params={"msg": "sign me"}))
    name, uid = tr["metadata"]["name"], tr["metadata"]["uid"]
    signed = wait_for(
        "Chains to sign the run",
        lambda: (
            (o := env.get("TaskRun", name))["metadata"].get("annotations", {}).get("chains.tekton.dev/signed")
            and o
        ),
        timeout=90,
    )
    annotations = signed["metadata"]["annotations"]
    assert annotations["chains.tekton.dev/signed"] == "true", annotations.get("chains.tekton.dev/error")
    envelope = json.loads(base64.b64decode(annotations[f"chains.tekton.dev/signature-taskrun-{uid}"]))
    payload = base64.b64decode(envelope["payload"])
    ptype = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(ptype), ptype, len(payload), payload)
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    independently = []
    for key in _public_keys_chains_may_use(env):
        try:
            key.verify(sig, pae, ec.ECDSA(hashes.SHA256()))
            independently.append(key)
        except InvalidSignature:
            pass
    assert independently, "the signature Chains wrote verifies with none of the keys it may use"
    page = browser_context.new_page()
    login(page, env, "view")
    page.goto(env.server.url + f"#/run/default/TaskRun/{name}")
    page.locator("#provenance[data-verified='true']").wait_for()
    statement = json.loads(page.locator("#statement").text_content() or "")
    assert statement == json.loads(payload)
    screenshot(page, "dashboard-provenance-chains")


# ------------------------------------------------------------------------------- without a browser
@pytest.mark.slow
def test_api_refuses_bad_queries_and_posts_without_the_dashboard_header(env: Env) -> None:
    with env.server.client("admin") as admin:
        bad = admin.get("api/runs", params={"status": "Done", "limit": "0"})
        assert bad.status_code == 422
        fields = {f["field"] for f in bad.json()["fields"]}
        assert fields == {"status", "limit"}
        assert "Pending, Running, Succeeded" in bad.json()["error"]
        some = env.all_runs("TaskRun")[0]["metadata"]["name"]
        assert admin.post(f"api/runs/default/TaskRun/{some}/rerun").status_code == 400  # no X-Requested-By
        assert admin.get("api/runs/default/Pod/x").status_code == 404
        assert admin.get("api/runs", params={"continue": "garbage"}).status_code == 422


def test_list_runs_merges_kinds_into_stable_pages(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        made = []
        for i in range(23):
            kind = "TaskRun" if i % 3 else "PipelineRun"
            spec = {"taskRef": {"name": "t"}} if kind == "TaskRun" else {"pipelineRef": {"name": "p"}}
            status = {
                "conditions": [
                    {"type": "Succeeded", "status": "False" if i % 4 == 0 else "True", "reason": "x"}
                ]
            }
            obj = store.create(
                {"apiVersion": "tekton.dev/v1", "kind": kind, "metadata": {"name": f"r{i:02d}"}, "spec": spec}
            )
            obj["status"] = status
            made.append(store.update(obj, status_only=True))
        # the store indexes tektite.dev/status from each write: no labeling pass needed
        for query in ({"limit": "4"}, {"limit": "4", "status": "Failed"}, {"limit": "1", "kind": "TaskRun"}):
            seen, token = [], None
            while True:
                page = list_runs(
                    store, RunQuery.from_params({**query, **({"continue": token} if token else {})})
                )
                assert len(page["items"]) <= int(query["limit"])
                seen += [(i["kind"], i["name"]) for i in page["items"]]
                token = page["continue"]
                if not token:
                    break
                assert page["remaining"] > 0
            want = [
                o
                for o in made
                if (query.get("kind") in (None, o["kind"]))
                and (query.get("status") is None or o["status"]["conditions"][0]["status"] == "False")
            ]
            assert sorted(seen) == sorted((o["kind"], o["metadata"]["name"]) for o in want)
            assert len(seen) == len(set(seen))
    finally:
        store.close()


def test_graph_places_every_task_after_its_dependencies() -> None:
    tasks = [
        {"name": "fetch", "taskRef": {"name": "t"}},
        {"name": "lint", "runAfter": ["fetch"], "taskRef": {"name": "t"}},
        {"name": "test", "runAfter": ["fetch"], "taskRef": {"name": "t"}},
        {
            "name": "build",
            "taskRef": {"name": "t"},
            "params": [{"name": "rev", "value": "$(tasks.fetch.results.commit)"}],
        },
        {"name": "push", "runAfter": ["lint", "test", "build"], "taskRef": {"name": "t"}},
    ]
    finally_ = [
        {
            "name": "notify",
            "taskRef": {"name": "t"},
            "params": [{"name": "d", "value": "$(tasks.push.results.digest)"}],
        }
    ]
    pr = {
        "kind": "PipelineRun",
        "metadata": {"name": "p"},
        "spec": {},
        "status": {"pipelineSpec": {"tasks": tasks, "finally": finally_}},
    }
    graph = build_graph(pr, [])
    assert graph is not None
    nodes = {n["name"]: n for n in graph["nodes"]}
    assert set(nodes) == {"fetch", "lint", "test", "build", "push", "notify"}
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert {
        ("fetch", "lint"),
        ("fetch", "test"),
        ("fetch", "build"),
        ("lint", "push"),
        ("push", "notify"),
    } <= edges
    for a, b in edges:
        assert nodes[a]["x"] + nodes[a]["w"] < nodes[b]["x"], f"{a} -> {b} does not go left to right"
    assert nodes["notify"]["finally"] and nodes["notify"]["x"] > max(
        n["x"] for n in graph["nodes"] if not n["finally"]
    )
    boxes = [(n["x"], n["y"]) for n in graph["nodes"]]
    assert len(boxes) == len(set(boxes))  # no two nodes on top of each other
    assert all(
        n["x"] + n["w"] <= graph["width"] and n["y"] + n["h"] <= graph["height"] for n in graph["nodes"]
    )


def test_provenance_verdicts_say_why() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    keys = PublicKeys((("test key", key.public_key()),))
    payload = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "subject": []}).encode()
    uid = "0b0e4f4a-1111-2222-3333-444455556666"

    def run(annotations: dict[str, str]) -> dict[str, Any]:
        return {"kind": "TaskRun", "metadata": {"name": "r", "uid": uid, "annotations": annotations}}

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    unsigned = provenance(run({}), keys, done=True)
    assert unsigned["state"] == "unsigned" and "not signed" in unsigned["reason"]
    assert "once it has finished" in provenance(run({}), keys, done=False)["reason"]

    # a raw signature over the payload (cosign's default for blobs), made with cryptography
    raw = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    ann = {
        "chains.tekton.dev/signed": "true",
        f"chains.tekton.dev/payload-taskrun-{uid}": b64(payload),
        f"chains.tekton.dev/signature-taskrun-{uid}": b64(raw),
    }
    good = provenance(run(ann), keys, done=True)
    assert good["signature"]["verified"] is True and good["signature"]["format"] == "raw"
    assert good["statement"] == json.loads(payload)

    changed = {**ann, f"chains.tekton.dev/payload-taskrun-{uid}": b64(payload.replace(b"[]", b"[1]"))}
    bad = provenance(run(changed), keys, done=True)
    assert bad["signature"]["verified"] is False and "does not verify" in bad["signature"]["reason"]

    envelope = {"payloadType": "application/vnd.in-toto+json", "payload": b64(b"{}"), "signatures": []}
    mismatch = {**ann, f"chains.tekton.dev/signature-taskrun-{uid}": b64(json.dumps(envelope).encode())}
    verdict = provenance(run(mismatch), keys, done=True)["signature"]
    assert verdict["verified"] is False and "different bytes" in verdict["reason"]

    nokey = provenance(run(ann), PublicKeys((), "no Secret signing-secrets"), done=True)["signature"]
    assert nokey["verified"] is False and "no Secret signing-secrets" in nokey["reason"]

    failed = provenance(
        run({"chains.tekton.dev/signed": "failed", "chains.tekton.dev/error": "boom"}), keys, done=True
    )
    assert failed["state"] == "failed" and "boom" in failed["reason"]
    garbage = provenance(run({**ann, f"chains.tekton.dev/signature-taskrun-{uid}": "%%%"}), keys, done=True)
    assert garbage["signature"]["verified"] is False and "base64" in garbage["signature"]["reason"]
