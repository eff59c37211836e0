"""The Store contract, run against SQLite and PostgreSQL: identity, resourceVersion conflicts,
generation, generateName, namespaces, label selectors, pagination, ownership cascade, finalizers
and watch events resumable from a resourceVersion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tektite.errors import AlreadyExists, Conflict, NotFound
from tektite.store.base import MetadataPatch
from tektite.store.sql import SQLStore

JSON = dict[str, Any]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    if request.param == "sqlite":
        s = SQLStore(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        s = SQLStore(url)
        with s.engine.begin() as conn:  # a clean schema per test
            for table in ("labels", "owners", "objects", "events"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
    yield s
    s.close()


def tr(
    name: str | None = None, labels: dict[str, str] | None = None, ns: str | None = None, **meta: Any
) -> JSON:
    md: JSON = {"labels": labels or {}, **meta}
    if name:
        md["name"] = name
    else:
        md["generateName"] = "run-"
    if ns:
        md["namespace"] = ns
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": md,
        "spec": {"taskRef": {"name": "t"}},
    }


def test_identity_and_defaults(store: SQLStore) -> None:
    obj = store.create(tr("a"))
    meta = obj["metadata"]
    assert meta["namespace"] == "default" and meta["generation"] == 1
    assert meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"]
    gen = store.create(tr())
    assert gen["metadata"]["name"].startswith("run-") and len(gen["metadata"]["name"]) == 9
    with pytest.raises(AlreadyExists):
        store.create(tr("a"))
    assert store.create(tr("a", ns="other"))["metadata"]["namespace"] == "other"
    with pytest.raises(NotFound, match='TaskRun "zzz" not found in namespace "default"'):
        store.get("TaskRun", "zzz")


def test_stale_resource_version_is_a_conflict_and_generation_counts_spec_changes(store: SQLStore) -> None:
    obj = store.create(tr("a"))
    newer = dict(obj, spec={"taskRef": {"name": "other"}})
    updated = store.update(newer)
    assert updated["metadata"]["generation"] == 2
    assert int(updated["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])
    with pytest.raises(Conflict, match="the object has been modified"):
        store.update(dict(obj, spec={"taskRef": {"name": "lost"}}))
    status = store.update(dict(updated, status={"podName": "p"}), status_only=True)
    assert status["metadata"]["generation"] == 2 and status["status"] == {"podName": "p"}
    assert store.get("TaskRun", "a")["spec"] == {"taskRef": {"name": "other"}}


def test_label_selectors_and_pagination(store: SQLStore) -> None:
    for i in range(25):
        store.create(tr(f"r{i:02d}", {"app": "web" if i % 2 else "db", "n": str(i)}))
    web = store.list("TaskRun", "default", label_selector="app=web")
    assert len(web.items) == 12
    assert len(store.list("TaskRun", label_selector="app in (web,db),n notin (1,2)").items) == 23
    assert len(store.list("TaskRun", label_selector="!missing").items) == 25
    seen, token = [], None
    while True:
        page = store.list("TaskRun", "default", limit=10, continue_token=token)
        seen += [o["metadata"]["name"] for o in page.items]
        token = page.continue_token
        if token is None:
            break
    assert seen == [f"r{i:02d}" for i in range(25)]
    newest = store.list("TaskRun", limit=3, order="-created")
    assert [o["metadata"]["name"] for o in newest.items] == ["r24", "r23", "r22"]


def test_keys_list_a_kind_with_a_group_label_and_get_many_reads_those_objects(store: SQLStore) -> None:
    for i in range(12):  # runs of 3 PipelineRuns (labelled) and runs of none, in two namespaces
        group = {"tekton.dev/pipelineRun": f"pr{i % 3}"} if i % 2 else {}
        store.create(tr(f"r{i:02d}", group, ns="a" if i % 4 == 1 else None))
    keys = store.keys("TaskRun", "tekton.dev/pipelineRun")
    listed = store.list("TaskRun").items
    assert [(ns, name) for ns, name, _ in keys] == [
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed
    ]
    assert {name: group for _, name, group in keys} == {
        o["metadata"]["name"]: (o["metadata"].get("labels") or {}).get("tekton.dev/pipelineRun")
        for o in listed
    }
    assert all(group is None for *_, group in store.keys("TaskRun"))
    wanted = ["r10", "r02", "gone", "r00", "r02"]  # any order, repeats, a missing one
    got = list(store.get_many("TaskRun", "default", wanted))
    assert [o["metadata"]["name"] for o in got] == ["r00", "r02", "r10"]
    assert got[0] == store.get("TaskRun", "r00")
    assert list(store.get_many("TaskRun", "a", ["r00"])) == []


def test_a_scan_reads_every_object_once_in_name_order_over_pages_while_it_is_written(
    store: SQLStore,
) -> None:
    for i in range(11):
        store.create(tr(f"r{i:02d}", {"tekton.dev/pipelineRun": f"pr{i % 3}"} if i % 2 else {}))
    seen = []
    for obj in store.scan("TaskRun", page=4):  # writes between the pages do not upset it
        seen.append(obj["metadata"]["name"])
        obj["metadata"]["annotations"] = {"seen": "yes"}
        store.update(obj)
    assert seen == [f"r{i:02d}" for i in range(11)]
    assert all(o["metadata"]["annotations"] == {"seen": "yes"} for o in store.list("TaskRun").items)


def test_label_index_follows_changed_added_and_removed_labels_and_the_run_status(store: SQLStore) -> None:
    run = store.create(tr("a", {"app": "web", "tier": "front"}))

    def names(selector: str) -> list[str]:
        return [o["metadata"]["name"] for o in store.list("TaskRun", label_selector=selector).items]

    assert names("tektite.dev/status=Pending") == ["a"]
    run["metadata"]["labels"] = {"app": "api", "team": "blue"}  # changed, added, removed
    run["status"] = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}
    store.update(run)
    assert names("app=api") == ["a"] and names("team=blue") == ["a"]
    assert names("app=web") == [] and names("tier") == [] and names("tektite.dev/status=Pending") == []
    assert names("tektite.dev/status=Succeeded") == ["a"]


def _finished(obj: JSON) -> JSON:
    return {**obj, "status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}}


def test_chains_pending_selects_the_runs_the_chains_watcher_may_act_on_through_every_write(
    store: SQLStore,
) -> None:
    """``tektite.dev/chains=pending``: how the watcher finds its work at start without reading
    every run kept. It follows creates, updates, deletes and metadata patches with and without
    the caller's copy; the other selector forms answer as for a label."""

    def pending(selector: str = "tektite.dev/chains=pending") -> list[str]:
        return sorted(o["metadata"]["name"] for o in store.list("TaskRun", label_selector=selector).items)

    def mark(
        obj: JSON, *, base: bool, annotations: dict[str, str | None], finalizers: tuple[str, ...]
    ) -> JSON:
        m = obj["metadata"]
        patch = MetadataPatch(
            "TaskRun",
            m["name"],
            m["namespace"],
            m["resourceVersion"],
            annotations,
            finalizers,
            obj if base else None,
        )
        assert isinstance(store.patch_metadata_many([patch])[0], int)
        return store.try_get("TaskRun", m["name"]) or {}

    fin = "chains.tekton.dev"
    running = store.create(tr("running"))  # in progress, no Chains finalizer yet: it gets one
    store.create(tr("held", finalizers=[fin]))  # in progress and held: nothing to do yet
    assert pending() == ["running"]
    running = mark(running, base=False, annotations={}, finalizers=(fin,))
    assert pending() == []
    store.update(_finished(store.get("TaskRun", "held")))  # finished: to sign
    running = store.update(_finished(running))
    assert pending() == ["held", "running"]
    signed = {"chains.tekton.dev/signed": "true"}
    running = mark(running, base=True, annotations=signed, finalizers=(fin,))  # signed, still held
    assert pending() == ["held", "running"]
    mark(running, base=True, annotations={}, finalizers=())
    mark(
        store.get("TaskRun", "held"),
        base=False,
        annotations={"chains.tekton.dev/signed": "failed"},
        finalizers=(),
    )
    assert pending() == []
    store.create(_finished(tr("old", annotations={"chains.tekton.dev/signed": "true"})))
    store.create(tr("doomed", finalizers=[fin]))
    store.delete("TaskRun", "doomed")  # deleted before it finished: the watcher lets it go
    assert pending() == ["doomed"] and store.get("TaskRun", "doomed")["metadata"]["deletionTimestamp"]
    mark(store.get("TaskRun", "doomed"), base=True, annotations={}, finalizers=())  # the last: gone
    assert pending() == [] and store.try_get("TaskRun", "doomed") is None
    store.create(tr("new"))
    assert pending("tektite.dev/chains") == pending("tektite.dev/chains in (pending)") == ["new"]
    everything = ["new", "old", "running", "held"]
    assert pending("!tektite.dev/chains") == pending("tektite.dev/chains!=pending") == sorted(everything[1:])
    assert pending("tektite.dev/chains=other") == [] and pending("tektite.dev/chains notin (pending)") != []
    assert [k[1] for k in store.keys("TaskRun", None, "tektite.dev/chains=pending")] == ["new"]
    assert [
        o["metadata"]["name"] for o in store.scan("TaskRun", label_selector="tektite.dev/chains=pending")
    ] == ["new"]


def test_a_database_from_before_the_derived_index_gets_it_when_opened(store: SQLStore) -> None:
    """A home an older tektite wrote: no ``chains_pending`` column, no derived status labels, the
    old label index. Opening it derives everything once, so its unsigned runs are found."""
    store.create(_finished(tr("unsigned")))
    store.create(_finished(tr("signed", annotations={"chains.tekton.dev/signed": "true"})))
    store.create(tr("running", finalizers=["chains.tekton.dev"]))
    store.close()
    sqlite = store.url.startswith("sqlite")
    old = sa.create_engine(store.url)
    with old.begin() as conn:  # as the older version left it
        conn.exec_driver_sql("DROP INDEX ix_objects_chains_pending")
        conn.exec_driver_sql("ALTER TABLE objects DROP COLUMN chains_pending")
        conn.exec_driver_sql("DROP INDEX ix_labels_obj_key")
        conn.exec_driver_sql("CREATE INDEX ix_labels_obj ON labels (obj_pk)")
        conn.exec_driver_sql("DELETE FROM labels WHERE key = 'tektite.dev/status'")
        conn.exec_driver_sql("DROP TABLE store_info")
    old.dispose()
    reopened = SQLStore(store.url)
    try:

        def names(selector: str) -> list[str]:
            return [o["metadata"]["name"] for o in reopened.list("TaskRun", label_selector=selector).items]

        assert names("tektite.dev/chains=pending") == ["unsigned"]
        assert names("tektite.dev/status=Pending") == ["running"]
        assert names("tektite.dev/status=Succeeded") == ["signed", "unsigned"]
        indexes_sql = (
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            if sqlite
            else "SELECT indexname FROM pg_indexes WHERE tablename IN ('objects', 'labels')"
        )
        with reopened.engine.connect() as conn:
            indexes = {r[0] for r in conn.exec_driver_sql(indexes_sql)}
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN DELETE FROM labels WHERE obj_pk = 1 AND key = 'tektite.dev/status'"
            ).all() if sqlite else []  # fmt: skip
        assert "ix_labels_obj" not in indexes
        assert {"ix_labels_obj_key", "ix_objects_chains_pending"} <= indexes
        if sqlite:  # one run's label found by the run, not by walking every run's label of that key
            assert "ix_labels_obj_key (obj_pk=? AND key=?)" in str(plan)
        reopened.create(_finished(tr("later")))
        assert names("tektite.dev/chains=pending") == ["later", "unsigned"]
    finally:
        reopened.close()


def test_owner_cascade_and_finalizers(store: SQLStore) -> None:
    parent = store.create(
        {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "p"}, "spec": {}}
    )
    ref = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "name": "p",
        "uid": parent["metadata"]["uid"],
    }
    store.create(tr("child-1", ownerReferences=[ref]))
    store.create(tr("child-2", ownerReferences=[ref], finalizers=["chains.tekton.dev"]))
    result = store.delete("PipelineRun", "p")
    assert sorted(o["metadata"]["name"] for o in result.deleted) == ["child-1", "p"]
    held = store.get("TaskRun", "child-2")
    assert held["metadata"]["deletionTimestamp"]
    held["metadata"]["finalizers"] = []
    store.update(held)
    assert store.try_get("TaskRun", "child-2") is None


def test_watch_events_in_order_and_resumable(store: SQLStore) -> None:
    start = store.current_resource_version()
    a = store.create(tr("a"))
    store.update(dict(a, status={"x": 1}), status_only=True)
    store.delete("TaskRun", "a")
    events = store.events_since(start, ("TaskRun",))
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e.resource_version for e in events] == sorted(e.resource_version for e in events)
    resumed = store.events_since(events[0].resource_version, ("TaskRun",))
    assert [e.type for e in resumed] == ["MODIFIED", "DELETED"]


def test_update_many_checks_each_object_on_its_own_and_writes_the_rest_in_order(store: SQLStore) -> None:
    a, b, c = store.create(tr("a")), store.create(tr("b", ns="team")), store.create(tr("c"))
    stale = store.create(tr("stale"))
    store.update({**stale, "metadata": {**stale["metadata"], "labels": {"moved": "on"}}})
    start = store.current_resource_version()
    batch = [
        {**obj, "metadata": {**obj["metadata"], "labels": {"signed": "yes"}}} for obj in (a, b, c, stale)
    ]
    batch.append(tr("missing"))
    results = store.update_many(batch)
    assert isinstance(results[3], Conflict) and "sent resourceVersion" in str(results[3])
    assert isinstance(results[4], NotFound) and '"missing"' in str(results[4])
    written = results[:3]
    assert [int(r["metadata"]["resourceVersion"]) for r in written] == [start + 1, start + 2, start + 3]
    assert sorted(
        o["metadata"]["name"] for o in store.list("TaskRun", label_selector="signed=yes").items
    ) == [
        "a",
        "b",
        "c",
    ]
    assert store.get("TaskRun", "b", "team")["metadata"]["labels"] == {"signed": "yes"}
    assert store.get("TaskRun", "stale")["metadata"]["labels"] == {"moved": "on"}
    events = store.events_since(start, ("TaskRun",))
    assert [(e.type, e.name) for e in events] == [("MODIFIED", "a"), ("MODIFIED", "b"), ("MODIFIED", "c")]


def test_metadata_patches_merge_annotations_and_finalizers_each_checked_on_its_own(store: SQLStore) -> None:
    """How Chains marks runs: a merge patch of annotations and finalizers per run, with the
    resourceVersion read as precondition; one transaction for many, each failing on its own."""
    fin = "chains.tekton.dev"
    a = store.create(
        tr("a", {"app": "api"}, annotations={"old": "x", "keep": "k"}, finalizers=[fin, "other"])
    )
    b = store.create(tr("b", ns="team", finalizers=[fin]))
    stale = store.create(tr("stale"))
    store.update({**stale, "metadata": {**stale["metadata"], "annotations": {"moved": "on"}}})
    seen: list[tuple[str, str, JSON]] = []
    unsubscribe = store.subscribe(lambda e: seen.append((e.type, e.name, e.object["metadata"])))
    start = store.current_resource_version()

    def patch(
        obj: JSON, annotations: dict[str, str | None], finalizers: tuple[str, ...] | None
    ) -> MetadataPatch:
        m = obj["metadata"]
        return MetadataPatch(
            obj["kind"], m["name"], m["namespace"], m["resourceVersion"], annotations, finalizers
        )

    results = store.patch_metadata_many(
        [
            patch(a, {"signed": "true", "old": None, "ü": '✓ "quoted"'}, ("other",)),
            patch(b, {"signed": "true"}, ()),
            patch(stale, {"signed": "true"}, None),
            MetadataPatch("TaskRun", "missing", "default", "1", {"signed": "true"}),
        ]
    )
    unsubscribe()
    assert isinstance(results[2], Conflict) and "sent resourceVersion" in str(results[2])
    assert isinstance(results[3], NotFound) and '"missing"' in str(results[3])
    assert all(isinstance(r, int) for r in results[:2]) and results[0] < results[1]
    got_a, got_b = store.get("TaskRun", "a"), store.get("TaskRun", "b", "team")
    assert got_a["metadata"]["annotations"] == {"keep": "k", "signed": "true", "ü": '✓ "quoted"'}
    assert got_a["metadata"]["finalizers"] == ["other"] and "finalizers" not in got_b["metadata"]
    assert [got_a["metadata"]["resourceVersion"], got_b["metadata"]["resourceVersion"]] == [
        str(r) for r in results[:2]
    ]
    assert got_a["spec"] == a["spec"] and got_a["metadata"]["uid"] == a["metadata"]["uid"]
    assert store.get("TaskRun", "stale")["metadata"]["annotations"] == {"moved": "on"}
    assert [o["metadata"]["name"] for o in store.list("TaskRun", label_selector="app=api").items] == ["a"]
    events = store.events_since(start, ("TaskRun",))
    assert [(e.type, e.name, e.resource_version) for e in events] == [
        ("MODIFIED", "a", results[0]),
        ("MODIFIED", "b", results[1]),
    ]
    assert events[0].object["metadata"]["annotations"]["signed"] == "true"
    assert [(t, n, m["resourceVersion"]) for t, n, m in seen] == [
        ("MODIFIED", "a", str(results[0])),
        ("MODIFIED", "b", str(results[1])),
    ]


def test_each_watch_event_keeps_the_object_as_it_was_after_later_patches_updates_and_deletes(
    store: SQLStore,
) -> None:
    """Whatever a store does to save copies, a watcher resuming from an old resourceVersion gets
    every version in turn: a patched run, patched again in the same batch, updated, deleted."""
    run = store.create(tr("w"))
    start = store.current_resource_version()
    [first] = store.patch_metadata_many([MetadataPatch("TaskRun", "w", "default", str(_rv(run)), {"n": "1"})])
    assert isinstance(first, int)
    second, third = store.patch_metadata_many(
        [
            MetadataPatch("TaskRun", "w", "default", str(first), {"n": "2"}),
            MetadataPatch("TaskRun", "w", "default", str(first + 1), {"n": "3"}),
        ]
    )
    assert isinstance(third, int) and second == third - 1
    current = store.get("TaskRun", "w")
    current["metadata"]["annotations"]["n"] = "4"
    store.update(current)
    after_update = store.events_since(start, ("TaskRun",))
    store.delete("TaskRun", "w")
    events = store.events_since(start, ("TaskRun",))
    assert events[:4] == after_update  # the delete changed none of the earlier events
    assert [(e.type, e.object["metadata"].get("annotations", {}).get("n")) for e in events] == [
        ("MODIFIED", "1"),
        ("MODIFIED", "2"),
        ("MODIFIED", "3"),
        ("MODIFIED", "4"),
        ("DELETED", "4"),
    ]
    assert [_rv(e.object) for e in events] == [e.resource_version for e in events]
    assert store.events_since(third - 1, ("TaskRun",))[0].object["metadata"]["annotations"] == {"n": "3"}


def _rv(obj: JSON) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_a_metadata_patch_removing_the_last_finalizer_of_a_deleted_object_deletes_it(store: SQLStore) -> None:
    store.create(tr("held", finalizers=["chains.tekton.dev"]))
    store.delete("TaskRun", "held")
    held = store.get("TaskRun", "held")
    start = store.current_resource_version()
    [rv] = store.patch_metadata_many(
        [
            MetadataPatch(
                "TaskRun", "held", "default", held["metadata"]["resourceVersion"], {"signed": "true"}, ()
            )
        ]
    )
    assert isinstance(rv, int)
    assert store.try_get("TaskRun", "held") is None
    assert [e.type for e in store.events_since(start, ("TaskRun",))] == ["DELETED"]


def test_a_metadata_patch_leaving_the_finalizers_of_a_deleted_object_keeps_it_being_deleted(
    store: SQLStore,
) -> None:
    store.create(tr("held", finalizers=["chains.tekton.dev", "other"]))
    store.delete("TaskRun", "held")
    held = store.get("TaskRun", "held")
    [rv] = store.patch_metadata_many(
        [MetadataPatch("TaskRun", "held", "default", held["metadata"]["resourceVersion"], {"signed": "true"})]
    )
    assert isinstance(rv, int)
    meta = store.get("TaskRun", "held")["metadata"]
    assert meta["annotations"] == {"signed": "true"} and meta["resourceVersion"] == str(rv)
    assert meta["finalizers"] == ["chains.tekton.dev", "other"]
    assert meta["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]


def test_listeners_see_every_write(store: SQLStore) -> None:
    seen: list[str] = []
    unsubscribe = store.subscribe(lambda e: seen.append(f"{e.type}:{e.name}"))
    store.create(tr("a"))
    store.delete("TaskRun", "a")
    unsubscribe()
    store.create(tr("b"))
    assert seen == ["ADDED:a", "DELETED:a"]


def test_engine_runs_a_pipeline_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The scaled-out store: the same engine, unchanged, on PostgreSQL."""
    import asyncio

    from tektite.controller.cluster import Cluster
    from tektite.controller.manager import Engine
    from tektite.core.conditions import get_condition
    from tektite.executor import select_executor

    async def go() -> JSON:
        cluster = Cluster(tmp_path / "home", store=SQLStore(postgres_url))
        engine = Engine(cluster, select_executor("process")[0])
        await engine.start()
        try:
            pr = cluster.create(
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "metadata": {"generateName": "pg-"},
                    "spec": {
                        "pipelineSpec": {
                            "tasks": [
                                {
                                    "name": "a",
                                    "taskSpec": {
                                        "results": [{"name": "r"}],
                                        "steps": [
                                            {"image": "bash", "script": "echo -n A > $(results.r.path)"}
                                        ],
                                    },
                                },
                                {
                                    "name": "b",
                                    "params": [{"name": "x", "value": "$(tasks.a.results.r)"}],
                                    "taskSpec": {
                                        "params": [{"name": "x"}],
                                        "steps": [{"image": "bash", "script": "test $(params.x) = A"}],
                                    },
                                },
                            ]
                        }
                    },
                }
            )
            return await asyncio.wait_for(engine.wait("PipelineRun", pr["metadata"]["name"]), 60)
        finally:
            await engine.stop()
            cluster.close()

    final = asyncio.run(go())
    assert (get_condition(final) or {}).get("reason") == "Succeeded"


def test_a_process_can_leave_sqlite_checkpoints_to_another(tmp_path: Path) -> None:
    """A sharded Chains sync: the signing processes write without checkpointing, and the parent
    copies their WAL frames into the database file while they work."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer, parent = SQLStore(url), SQLStore(url)
    try:
        writer.leave_checkpoints()
        writer.engine.dispose()  # new connections from here on
        with writer.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        with parent.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() > 0  # others keep theirs
        database = tmp_path / "store.db"
        for i in range(50):
            writer.create(tr(f"r{i:02d}", annotations={"pad": "x" * 4000}))
        assert database.stat().st_size < 50 * 4000  # all of it is still in the WAL
        parent.checkpoint()
        assert database.stat().st_size > 50 * 4000  # copied into the database file
        assert len(parent.list("TaskRun").items) == 50
    finally:
        writer.close()
        parent.close()


def _open_at_once(url: str, processes: int = 6) -> list[str]:
    """Open a new database from several processes started together; their error output."""
    import subprocess
    import sys

    code = "import sys\nfrom tektite.store.sql import SQLStore\nSQLStore(sys.argv[1]).close()\n"
    started = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    errors = []
    for proc in started:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            errors.append(err.strip().splitlines()[-1])
    return errors


def test_processes_opening_a_new_sqlite_home_at_once_all_get_it(tmp_path: Path) -> None:
    # two terminals (or a server and a CLI) starting on a fresh home: one makes the tables, none
    # fails with "table objects already exists"
    for round_ in range(4):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        assert _open_at_once(url) == []
        s = SQLStore(url)
        assert s.create(tr("a"))["metadata"]["resourceVersion"] == "1"
        s.close()


def test_processes_opening_a_new_postgresql_database_at_once_all_get_it(postgres_url: str) -> None:
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    for round_ in range(2):
        name = f"tektite_race_{round_}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        url = str(sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
        assert _open_at_once(url) == []
        s = SQLStore(url)
        assert s.create(tr("a"))["metadata"]["resourceVersion"] == "1"
        s.close()
    admin.dispose()
