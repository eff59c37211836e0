"""Keyed workspace caches: what a run starts from, what it leaves, and what a binding may say."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tektite.controller.caches import Caches, CacheSpec, parse
from tektite.core.cachebinding import DRIVER, is_cache
from tektite.errors import TektiteError


def binding(**attrs: str) -> dict:
    return {"name": "deps", "csi": {"driver": DRIVER, "volumeAttributes": attrs}}


def filled(tmp_path: Path, name: str, **files: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    for k, v in files.items():
        (d / k).write_text(v)
    return d


def test_a_saved_cache_is_restored_by_its_key_and_a_fallback_takes_the_newest_under_a_prefix(
    tmp_path: Path,
) -> None:
    caches = Caches(tmp_path / "caches")
    assert caches.save("ns", CacheSpec("npm-main"), filled(tmp_path, "a", lock="main"), "run-a")
    assert caches.save("ns", CacheSpec("npm-feature-1"), filled(tmp_path, "b", lock="f1"), "run-b")
    assert caches.save("ns", CacheSpec("npm-feature-2"), filled(tmp_path, "c", lock="f2"), "run-c")

    hit = tmp_path / "hit"
    assert caches.restore("ns", CacheSpec("npm-main"), hit) == "hit"
    assert (hit / "lock").read_text() == "main"

    fallback = tmp_path / "fallback"
    spec = CacheSpec("npm-feature-3", ("npm-feature-", "npm-"))
    assert caches.restore("ns", spec, fallback) == "fallback npm-feature-2"
    assert (fallback / "lock").read_text() == "f2"

    miss = tmp_path / "miss"
    assert caches.restore("ns", CacheSpec("pip-main", ("pip-",)), miss) == "miss"
    assert miss.is_dir() and not any(miss.iterdir())
    assert caches.restore("other", CacheSpec("npm-main"), tmp_path / "other") == "miss"  # per namespace


def test_a_working_copy_changes_nothing_until_it_is_saved_and_a_save_replaces_the_entry(
    tmp_path: Path,
) -> None:
    caches = Caches(tmp_path / "caches")
    caches.save("ns", CacheSpec("k"), filled(tmp_path, "first", a="1", gone="x"), "r1")
    work = tmp_path / "work"
    caches.restore("ns", CacheSpec("k"), work)
    (work / "a").write_text("2")
    (work / "gone").unlink()

    again = tmp_path / "again"
    caches.restore("ns", CacheSpec("k"), again)
    assert (again / "a").read_text() == "1"  # the entry is not the working copy

    caches.save("ns", CacheSpec("k"), work, "r2")
    latest = tmp_path / "latest"
    caches.restore("ns", CacheSpec("k"), latest)
    assert sorted(p.name for p in latest.iterdir()) == ["a"] and (latest / "a").read_text() == "2"
    [entry] = caches.list("ns")
    assert (entry.key, entry.run, entry.size) == ("k", "r2", 1)
    assert not [p for p in (tmp_path / "caches" / "ns").iterdir() if p.name.startswith((".incoming", ".old"))]


def test_policies_pull_and_push(tmp_path: Path) -> None:
    caches = Caches(tmp_path / "caches")
    assert not caches.save("ns", CacheSpec("k", policy="pull"), filled(tmp_path, "a", f="1"), "r")
    assert caches.list("ns") == []
    assert caches.save("ns", CacheSpec("k", policy="push"), filled(tmp_path, "b", f="2"), "r")
    assert caches.restore("ns", CacheSpec("k", policy="push"), tmp_path / "c") == "miss (policy push)"
    assert not (tmp_path / "c" / "f").exists()


def test_delete_and_list_across_namespaces(tmp_path: Path) -> None:
    caches = Caches(tmp_path / "caches")
    caches.save("a", CacheSpec("k1"), filled(tmp_path, "x", f="1"), "r")
    caches.save("b", CacheSpec("k2"), filled(tmp_path, "y", f="2"), "r")
    assert {(e.namespace, e.key) for e in caches.list()} == {("a", "k1"), ("b", "k2")}
    assert caches.delete("a", "k1") and not caches.delete("a", "k1")
    assert [e.key for e in caches.list()] == ["k2"]


def test_a_binding_is_a_cache_by_its_driver_and_its_key_is_substituted() -> None:
    assert is_cache(binding(key="k")) and not is_cache(
        {"name": "x", "csi": {"driver": "secrets-store.csi.k8s.io"}}
    )
    spec = parse(
        binding(key="npm-$(params.branch)", fallbackKeys=" npm-main, npm- ", policy="pull"),
        "w",
        lambda s: s.replace("$(params.branch)", "dev"),
    )
    assert spec == CacheSpec("npm-dev", ("npm-main", "npm-"), "pull")
    assert parse(binding(key="k"), "w") == CacheSpec("k", (), "pull-push")


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({}, 'PipelineRun ns/r: workspace "deps": csi.volumeAttributes.key: a cache needs its key'),
        (
            {"key": "k", "policy": "sometimes"},
            'policy: unknown cache policy: expected pull-push, pull, push, found "sometimes"',
        ),
        (
            {"key": "k", "paths": "node_modules"},
            "paths: unknown cache attribute: expected key, fallbackKeys, policy",
        ),
        ({"key": "k", "policy": "$(params.p)"}, 'policy "sometimes" is not one of pull-push, pull, push'),
        ({"key": "npm-$(params.nope)"}, 'key "npm-$(params.nope)" names a variable that is not known here'),
        ({"key": "k" * 600}, "a cache key is at most 512 characters, found 600"),
    ],
)
def test_a_bad_cache_binding_says_which_workspace_and_field(attrs: dict, expected: str) -> None:
    with pytest.raises(TektiteError) as caught:
        parse(
            binding(**attrs),
            'PipelineRun ns/r: workspace "deps"',
            lambda v: v.replace("$(params.p)", "sometimes"),
        )
    assert expected in str(caught.value.message)
    assert 'workspace "deps"' in str(caught.value.message)


def test_a_fifo_left_in_a_workspace_is_skipped_and_a_failed_save_keeps_the_run_going(tmp_path: Path) -> None:
    caches = Caches(tmp_path / "caches")
    work = filled(tmp_path, "work", keep="1")
    os.mkfifo(work / "pipe")  # copying it would block: it is left out
    assert caches.save("ns", CacheSpec("k"), work, "r")
    restored = tmp_path / "restored"
    assert caches.restore("ns", CacheSpec("k"), restored) == "hit"
    assert sorted(p.name for p in restored.iterdir()) == ["keep"]

    broken = Caches(filled(tmp_path, "not-a-dir-parent") / "keep-out")
    (tmp_path / "not-a-dir-parent" / "keep-out").write_text("a file where the caches would go")
    assert not broken.save("ns", CacheSpec("k"), work, "r")  # logged, not raised
