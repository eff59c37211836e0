"""One signer among watchers sharing a store: the Lease, and what the others do meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_watcher import ann, cluster, finished_taskrun, get, make_watcher

from tektite.chains import annotations as A
from tektite.chains.lease import LEASE_NAME, LEASE_NAMESPACE, Lease
from tektite.controller.cluster import Cluster
from tektite.errors import TektiteError

__all__ = ["cluster"]


def expire(cluster: Cluster) -> None:
    """Make the holder look dead: its last renewal is long past."""
    lease = cluster.store.get("Lease", LEASE_NAME, LEASE_NAMESPACE)
    past = datetime.now(UTC) - timedelta(hours=1)
    lease["spec"]["renewTime"] = past.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cluster.store.update(lease)


def test_one_holder_at_a_time(cluster: Cluster) -> None:
    first, second = Lease(cluster.store, "first"), Lease(cluster.store, "second")
    assert first.try_acquire() and first.held()
    assert not second.try_acquire() and not second.held()
    assert first.try_acquire()  # renewing
    assert second.holder() == "first"


def test_release_hands_over_at_once(cluster: Cluster) -> None:
    first, second = Lease(cluster.store, "first"), Lease(cluster.store, "second")
    first.try_acquire()
    first.release()
    assert not first.held()
    assert second.try_acquire()
    spec = cluster.store.get("Lease", LEASE_NAME, LEASE_NAMESPACE)["spec"]
    assert spec["holderIdentity"] == "second" and spec["leaseTransitions"] == 1


def test_an_expired_lease_is_taken_over(cluster: Cluster) -> None:
    first, second = Lease(cluster.store, "first"), Lease(cluster.store, "second")
    first.try_acquire()
    expire(cluster)
    assert second.try_acquire()
    assert not first.try_acquire()  # the old holder learns it lost


def test_release_by_a_non_holder_changes_nothing(cluster: Cluster) -> None:
    first, second = Lease(cluster.store, "first"), Lease(cluster.store, "second")
    first.try_acquire()
    second.release()
    assert second.holder() == "first"


def test_two_watchers_one_signs(cluster: Cluster) -> None:
    leader, follower = make_watcher(cluster, identity="leader"), make_watcher(cluster, identity="follower")
    leader._leader = leader.lease.try_acquire()
    tr = finished_taskrun(cluster)
    follower._leader = follower.lease.try_acquire()
    assert not follower._leader
    follower.on_finished(tr)  # the follower's engine hook: ignored
    leader.on_finished(tr)
    assert len(follower.queue) == 0 and len(leader.queue) == 1


def test_sync_refuses_while_another_watcher_holds_the_lease(cluster: Cluster) -> None:
    Lease(cluster.store, "someone-else").try_acquire()
    finished_taskrun(cluster)
    with pytest.raises(TektiteError, match=r"another Chains watcher holds the lease \(someone-else\)"):
        make_watcher(cluster).sync()
    assert A.SIGNED not in ann(get(cluster, "TaskRun", "build"))


def test_sync_signs_everything_pending_and_releases(cluster: Cluster) -> None:
    for i in range(5):
        finished_taskrun(cluster, name=f"tr-{i}")
    summary = make_watcher(cluster).sync()
    assert (summary.signed, summary.failed, summary.left) == (5, 0, 0)
    successor = Lease(cluster.store, "next")
    assert successor.try_acquire()  # released when done
    successor.release()
    assert make_watcher(cluster).sync().signed == 0  # nothing twice
