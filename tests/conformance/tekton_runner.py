"""Run a Tekton example file the way Tekton's e2e suite does: create every object, wait for the
created runs to finish, report their conditions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tektite.api.loader import load_text
from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.core.conditions import get_condition, is_done
from tektite.executor import select_executor

JSON = dict[str, Any]

ALPHA_FLAGS = {
    "enable-api-fields": "alpha",
    "enable-cel-in-whenexpression": "true",
    "enable-param-enum": "true",
    "enable-artifacts": "true",
    "enable-step-actions": "true",
}


def feature_flags(path: Path) -> dict[str, str] | None:
    return ALPHA_FLAGS if "alpha" in path.parts else None


async def run_example(
    path: Path, home: Path, executor: str | None = None, timeout: float = 120.0
) -> list[JSON]:
    cluster = Cluster(home)
    flags = feature_flags(path)
    if flags:
        cluster.store.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "feature-flags", "namespace": "tekton-pipelines"},
                "data": flags,
            }
        )
    docs = load_text(path.read_text(), str(path))
    engine = Engine(cluster, select_executor(executor)[0])
    await engine.start()
    try:
        runs = []
        for doc in docs:
            parsed = cluster.admit(doc.obj, doc)
            obj = cluster.store.create(parsed.obj)
            if obj["kind"] in ("TaskRun", "PipelineRun"):
                runs.append(obj)
        final = []
        for r in runs:
            final.append(
                await asyncio.wait_for(
                    engine.wait(r["kind"], r["metadata"]["name"], r["metadata"].get("namespace", "default")),
                    timeout,
                )
            )
        return final
    finally:
        await engine.stop()
        cluster.close()


def describe_failure(cluster_home: Path, run: JSON) -> str:
    cond = get_condition(run) or {}
    lines = [f"{run['kind']} {run['metadata']['name']}: {cond.get('reason')}: {cond.get('message')}"]
    if run["kind"] == "PipelineRun":
        cluster = Cluster(cluster_home)
        for child in cluster.store.list(
            "TaskRun", label_selector=f"tekton.dev/pipelineRun={run['metadata']['name']}"
        ).items:
            c = get_condition(child) or {}
            lines.append(f"  TaskRun {child['metadata']['name']}: {c.get('reason')}: {c.get('message')}")
            lines.extend(_logs(cluster, child))
    else:
        lines.extend(_logs(Cluster(cluster_home), run))
    return "\n".join(lines)


def _logs(cluster: Cluster, tr: JSON) -> list[str]:
    meta = tr["metadata"]
    d = (
        cluster.paths.taskrun_dir(meta.get("namespace", "default"), meta["name"], meta.get("uid", ""))
        / "logs"
    )
    out = []
    if d.is_dir():
        for f in sorted(d.iterdir()):
            out.append(f"    --- {f.name}")
            out.extend("    " + line for line in f.read_text(errors="replace").splitlines()[-15:])
    return out


def ok(run: JSON) -> bool:
    cond = get_condition(run) or {}
    return is_done(run) and cond.get("status") == "True"
