"""TaskRun + resolved Task spec -> an executor Pod: params, variables, workspaces, volumes, env.

Follows Tekton's order: StepActions are inlined first (their own params applied), then the
Task's params, then context/workspace/result/credential variables, then per-step variables.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tektite.api.params import Param, ParamSpec, ResultSpec
from tektite.api.task import TaskSpec
from tektite.controller import caches, stepactions, volumes
from tektite.controller import env as envmod
from tektite.controller.caches import CacheSpec
from tektite.controller.config import Config
from tektite.controller.lookup import Getter, Paths, RunSetupError, Secrets
from tektite.core import cachebinding, defaults
from tektite.core import params as paramsmod
from tektite.core.conditions import child_name
from tektite.core.durations import DurationError, parse_duration
from tektite.core.substitution import Substituter
from tektite.errors import TektiteError
from tektite.executor.plan import TEKTON_SUBDIRS, Container, Mount, Pod, Probe, WhenExpression

JSON = dict[str, Any]

HERMETIC_ANNOTATION = "experimental.tekton.dev/execution-mode"
STEP_RESULTS = "/tekton/steps"


@dataclass
class BuildEnv:
    config: Config
    get: Getter
    paths: Paths
    virtual_paths: bool = True
    resolve_step_action: Any = None  # Callable[[JSON step ref], JSON StepAction spec]


@dataclass
class Built:
    pod: Pod
    # status.taskSpec (StepActions inlined, variables substituted), worked out on first use: the
    # engine asks once the first container has started, while it runs
    make_task_spec: Callable[[], JSON]
    results: list[ResultSpec] = field(default_factory=list)
    step_names: list[str] = field(default_factory=list)
    sidecar_names: list[str] = field(default_factory=list)
    result_values: list[JSON] = field(default_factory=list)  # task results declared with value: $(steps...)
    caches: list[tuple[CacheSpec, Path]] = field(default_factory=list)  # cache workspaces, where

    @functools.cached_property
    def task_spec(self) -> JSON:
        return self.make_task_spec()


def step_names(steps: list[JSON]) -> list[str]:
    return [s.get("name") or f"unnamed-{i}" for i, s in enumerate(steps)]


def _merge_template(template: JSON | None, step: JSON) -> JSON:
    """stepTemplate under each step: step fields win, env merged by name, mounts by path."""
    if not template:
        return step
    out = copy.deepcopy(template)
    out.pop("name", None)
    for key, value in step.items():
        if key == "env" and out.get("env"):
            names = {e["name"] for e in value}
            out["env"] = [e for e in out["env"] if e["name"] not in names] + value
        elif key == "volumeMounts" and out.get("volumeMounts"):
            paths = {m["mountPath"] for m in value}
            out["volumeMounts"] = [m for m in out["volumeMounts"] if m["mountPath"] not in paths] + value
        else:
            out[key] = value
    return out


def _timeout(value: str | None, where: str) -> float | None:
    if not value:
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise RunSetupError("TaskRunValidationFailed", f"{where}: {exc}") from None
    return seconds or None


class _Builder:
    def __init__(self, tr: JSON, spec: JSON, attempt: int, env: BuildEnv, run_dir: Path) -> None:
        self.tr = tr
        self.meta = tr["metadata"]
        self.ns = self.meta.get("namespace", "default")
        self.tr_spec = tr.get("spec") or {}
        self.spec = spec
        self.attempt = attempt
        self.env = env
        self.run_dir = run_dir
        self.secrets = Secrets()
        self.pod_name = child_name(self.meta["name"], "-pod") + (f"-retry{attempt}" if attempt else "")
        self.labels: dict[str, str] = dict(self.meta.get("labels") or {})
        self.annotations: dict[str, str] = dict(self.meta.get("annotations") or {})
        self.common: list[Mount] = []
        self.ws_mounts: dict[str, Mount] = {}
        self.vol_sources: dict[str, volumes.Source] = {}
        self.caches: list[tuple[caches.CacheSpec, Path]] = []  # restored before, saved after the run
        self._tekton: dict[str, Path] = {}

    # -- paths --------------------------------------------------------------------------------
    def tekton(self, sub: str) -> Path:
        path = self._tekton.get(sub)
        if path is None:
            path = self._tekton[sub] = (self.tekton("") if sub else self.run_dir) / (sub or "tekton")
        return path

    def as_tekton_names_it(self, spec: bytes) -> JSON:
        """The spec (as JSON) with the host paths substituted for a process pod (its steps cannot
        see ``/tekton`` or ``/workspace``) put back as the container paths Tekton substitutes:
        ``status.taskSpec``, and the provenance made from it, name ``/tekton/results/x`` and
        ``/workspace/src`` as on Tekton and in the sandbox, not this machine's directories."""
        text = spec.decode()
        pairs = [(str(self.run_dir / "tekton"), "/tekton")]
        pairs += [(str(m.host_path), m.container_path) for m in self.ws_mounts.values()]
        for host, container in sorted(pairs, key=lambda p: -len(p[0])):
            quoted_host, quoted_container = (
                orjson.dumps(host).decode()[1:-1],
                orjson.dumps(container).decode()[1:-1],
            )
            if quoted_host in text:  # the whole path, not the start of a longer name
                pattern = re.compile(re.escape(quoted_host) + r"(?![\w.-])")
                text = pattern.sub(quoted_container.replace("\\", "\\\\"), text)
        out: JSON = orjson.loads(text)
        return out

    def path(self, container_path: str, host: Path) -> str:
        """What a variable such as ``$(results.x.path)`` says: the container path where paths are
        virtual, the host path otherwise."""
        return container_path if self.env.virtual_paths else str(host)

    # -- params -------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        specs = [ParamSpec.model_validate(p) for p in self.spec.get("params") or []]
        provided = [Param.model_validate(p) for p in self.tr_spec.get("params") or []]
        owner = f'task "{self.task_name()}"'
        problem = paramsmod.check(
            specs, provided, owner=owner, enum_enabled=self.env.config.flag("enable-param-enum")
        )
        if problem:
            reason = "TaskRunValidationFailed" if problem.reason != "InvalidParamValue" else problem.reason
            raise RunSetupError(reason, problem.message)
        by_name = {s.name: s for s in specs}
        cleaned = [
            p
            for p in provided
            if not (
                p.name in by_name
                and by_name[p.name].effective_type == "object"
                and not isinstance(p.value, dict)
            )
        ]
        return paramsmod.bind(specs, cleaned)

    def task_name(self) -> str:
        ref = self.tr_spec.get("taskRef") or {}
        return ref.get("name") or self.labels.get("tekton.dev/task") or self.meta["name"]

    # -- workspaces ---------------------------------------------------------------------------
    def workspaces(self) -> dict[str, JSON]:
        declared = {w["name"]: w for w in self.spec.get("workspaces") or []}
        bindings = {b["name"]: b for b in self.tr_spec.get("workspaces") or []}
        if self.tr_spec.get("taskSpec") is not None:  # propagated workspaces for embedded specs
            for name in bindings:
                declared.setdefault(name, {"name": name})
        variables: dict[str, JSON] = {}
        default_binding = self.env.config.default_task_run_workspace_binding
        for name, decl in declared.items():
            binding = bindings.get(name)
            if binding is None and not decl.get("optional") and default_binding:
                binding = {"name": name, **default_binding}
            mount_path = decl.get("mountPath") or f"/workspace/{name}"
            if binding is None:
                if decl.get("optional"):
                    variables[name] = {"path": "", "bound": "false", "claim": "", "volume": ""}
                    continue
                raise RunSetupError(
                    "TaskRunValidationFailed",
                    f'declared workspace "{name}" is required but has not been bound',
                )
            kind, src_spec = volumes.source_kind(binding)
            vct_claim = None
            if kind == "volumeClaimTemplate":
                vct_claim = (
                    f"{(src_spec.get('metadata') or {}).get('name') or 'pvc'}-{self.meta['uid'][:8]}-{name}"
                )
            if cachebinding.is_cache(binding):  # the engine restores it before the run, saves it after
                src = self.cache(name, binding)
            else:
                src = volumes.materialize(
                    kind,
                    src_spec,
                    name=name,
                    target=self.run_dir / "workspaces" / name,
                    namespace=self.ns,
                    get=self.env.get,
                    paths=self.env.paths,
                    secrets=self.secrets,
                    vct_claim=vct_claim,
                )
            src = volumes.sub_path(src, binding.get("subPath"))
            self.ws_mounts[name] = volumes.mount(src, mount_path, bool(decl.get("readOnly")))
            claim = src.claim if kind in ("persistentVolumeClaim", "volumeClaimTemplate") else ""
            variables[name] = {
                "path": self.path(mount_path, src.host),
                "bound": "true",
                "claim": claim,
                "volume": f"ws-{name}",
            }
        return variables

    def cache(self, name: str, binding: JSON) -> volumes.Source:
        """A cache binding of a lone TaskRun (controller/caches.py): a directory of the run."""
        where = f'TaskRun {self.ns}/{self.meta["name"]}: workspace "{name}"'
        sub = Substituter({"params": self.params(), "context": self.context()})
        try:
            spec = caches.parse(binding, where, sub.value)
        except TektiteError as exc:
            raise RunSetupError("InvalidWorkspaceBindings", str(exc.message)) from None
        target = self.run_dir / "workspaces" / name
        target.mkdir(parents=True, exist_ok=True)
        self.caches.append((spec, target))
        return volumes.Source(target)

    def volume_sources(self, spec: JSON) -> None:
        pod_template = self.tr_spec.get("podTemplate") or self.env.config.default_pod_template or {}
        for vol in [*(spec.get("volumes") or []), *(pod_template.get("volumes") or [])]:
            name = vol["name"]
            kind, src_spec = volumes.source_kind(vol)
            self.vol_sources[name] = volumes.materialize(
                kind,
                src_spec,
                name=name,
                target=self.run_dir / "volumes" / name,
                namespace=self.ns,
                get=self.env.get,
                paths=self.env.paths,
                secrets=self.secrets,
            )

    # -- containers -----------------------------------------------------------------------------
    def container_mounts(self, c: JSON, isolated: set[str], kind: str) -> list[Mount]:
        mounts: list[Mount] = []
        own = {w["name"]: w for w in c.get("workspaces") or []}
        for name, m in self.ws_mounts.items():
            if name in isolated and name not in own:
                continue
            path = (
                own[name].get("mountPath") if name in own and own[name].get("mountPath") else m.container_path
            )
            mounts.append(Mount(m.host_path, path, m.read_only, m.is_file))
        for vm in c.get("volumeMounts") or []:
            src = self.vol_sources.get(vm["name"])
            if src is None:
                raise RunSetupError(
                    "CreateContainerConfigError",
                    f'{kind} "{c.get("name", "")}": volumeMount "{vm["name"]}" names no volume of the task',
                )
            sub = volumes.sub_path(src, vm.get("subPath"))
            mounts.append(volumes.mount(sub, vm["mountPath"], bool(vm.get("readOnly"))))
        return mounts

    def container(self, c: JSON, kind: str, name: str, index: int, isolated: set[str]) -> Container:
        where = f'{kind} "{name}"'
        pod_env = (self.tr_spec.get("podTemplate") or {}).get("env") or []
        field_values = envmod.field_values(
            self.pod_name, self.ns, self.labels, self.annotations, self.service_account_name()
        )
        env = envmod.resolve_env(
            [*pod_env, *(c.get("env") or [])],
            c.get("envFrom"),
            namespace=self.ns,
            get=self.env.get,
            secrets=self.secrets,
            field_values=field_values,
            where=where,
        )
        forbidden = self.env.config.forbidden_env
        env = {k: v for k, v in env.items() if k not in forbidden}
        limits = (c.get("computeResources") or {}).get("limits") or {}
        task_limits = ((self.tr_spec.get("computeResources") or {}).get("limits")) or {}
        mem = envmod.parse_quantity(limits.get("memory") or task_limits.get("memory"))
        cpu = envmod.parse_quantity(limits.get("cpu") or task_limits.get("cpu"))
        sc = c.get("securityContext") or {}
        pod_sc = (self.tr_spec.get("podTemplate") or {}).get("securityContext") or {}
        readiness = None
        probe = c.get("readinessProbe") or c.get("startupProbe")
        if kind == "sidecar" and probe and (probe.get("exec") or {}).get("command"):
            readiness = Probe(
                argv=list(probe["exec"]["command"]),
                initial_delay=float(probe.get("initialDelaySeconds") or 0),
                timeout=float(probe.get("timeoutSeconds") or 1),
                failure_threshold=probe.get("failureThreshold"),
            )
        on_error = c.get("onError") or "stopAndFail"
        if on_error not in ("continue", "stopAndFail"):
            raise RunSetupError(
                "TaskRunValidationFailed",
                f'{where}: onError must be "continue" or "stopAndFail", found "{on_error}"',
            )
        prefix = "step-" if kind == "step" else "sidecar-"
        return Container(
            name=prefix + name,
            step_name=name,
            kind="step" if kind == "step" else "sidecar",
            image=c.get("image") or "",
            command=c.get("command"),
            args=list(c.get("args") or []),
            script=c.get("script"),
            env=env,
            working_dir=c.get("workingDir"),
            mounts=self.container_mounts(c, isolated, kind),
            timeout=_timeout(c.get("timeout"), where) if kind == "step" else None,
            on_error=on_error,  # type: ignore[arg-type]
            run_as_user=sc.get("runAsUser", pod_sc.get("runAsUser")),
            run_as_group=sc.get("runAsGroup", pod_sc.get("runAsGroup")),
            memory_limit=int(mem) if mem else None,
            cpu_limit=cpu,
            stdout_path=(c.get("stdoutConfig") or {}).get("path"),
            stderr_path=(c.get("stderrConfig") or {}).get("path"),
            readiness=readiness,
            when=[
                WhenExpression(w.get("input"), w.get("operator"), list(w.get("values") or []), w.get("cel"))
                for w in c.get("when") or []
            ],
            results_dir=f"{STEP_RESULTS}/step-{name}/results" if kind == "step" else None,
            declared_results=[r["name"] for r in c.get("results") or []],
        )

    def service_account_name(self) -> str:
        return self.tr_spec.get("serviceAccountName") or self.env.config.default_service_account

    # -- the whole pod --------------------------------------------------------------------------
    def build(self) -> Built:
        # the executor makes the run's directories, only those its backend needs (layout.py)
        values = self.params()
        spec = copy.deepcopy(self.spec)
        steps = []
        for s in spec.get("steps") or []:
            if s.get("ref"):
                if self.env.resolve_step_action is None:
                    raise RunSetupError("TaskRunResolutionFailed", "step refs cannot be resolved here")
                action = self.env.resolve_step_action(s["ref"])
                s = stepactions.inline(s, action, values)
            steps.append(s)
        spec["steps"] = steps
        names = step_names(steps)
        # volumes may name their sources with params ($(params.secret-name))
        self.volume_sources(
            Substituter({"params": values}, roots=("params",)).apply({"volumes": spec.get("volumes") or []})
        )
        ws_vars = self.workspaces()
        for name, m in self.ws_mounts.items():  # a workspace is also a volume: $(workspaces.w.volume)
            self.vol_sources.setdefault(f"ws-{name}", volumes.Source(m.host_path, m.read_only))
        ctx = self.context()
        results_decl = [ResultSpec.model_validate(r) for r in spec.get("results") or []]
        tree: JSON = {
            "params": values,
            "inputs": {"params": values},  # pre-v1 spelling, still substituted by Tekton
            "context": ctx,
            "workspaces": ws_vars,
            "results": {
                r.name: {"path": self.path(f"/tekton/results/{r.name}", self.tekton("results") / r.name)}
                for r in results_decl
            },
            "credentials": {"path": self.path("/tekton/creds", self.tekton("creds"))},
            "steps": {
                f"step-{n}": {
                    "exitCode": {
                        "path": self.path(
                            f"{STEP_RESULTS}/step-{n}/exitCode",
                            self.tekton("steps") / f"step-{n}" / "exitCode",
                        )
                    }
                }
                for n in names
            },
        }
        # Tekton's order: params first (values may mention other variables), then the rest.
        spec = Substituter(tree, roots=("params", "inputs")).apply(spec)
        spec = Substituter(tree).apply(spec)
        snapshot = orjson.dumps(spec)  # the spec as it is now (building the pod goes on below)

        def status_spec() -> JSON:
            """status.taskSpec: StepActions inlined and every variable the controller knows
            substituted, as Tekton records it."""
            resolved: JSON = (
                orjson.loads(snapshot) if self.env.virtual_paths else self.as_tekton_names_it(snapshot)
            )
            defaults.task_spec(resolved)
            return resolved

        isolated = {
            w["name"]
            for c in [*(spec.get("steps") or []), *(spec.get("sidecars") or [])]
            for w in c.get("workspaces") or []
        }
        template = spec.get("stepTemplate")
        containers = []
        dirs: list[Path] = []
        artifacts = "$(step.artifacts.path)" in str(self.spec.get("steps"))
        for i, (s, name) in enumerate(zip(spec["steps"], names, strict=True)):
            step_tree = {
                "step": {
                    "results": {
                        r["name"]: {
                            "path": self.path(
                                f"{STEP_RESULTS}/step-{name}/results/{r['name']}",
                                self.tekton("steps") / f"step-{name}" / "results" / r["name"],
                            )
                        }
                        for r in s.get("results") or []
                    },
                    "artifacts": {
                        "path": self.path(
                            f"{STEP_RESULTS}/step-{name}/artifacts/provenance.json",
                            self.tekton("steps") / f"step-{name}" / "artifacts" / "provenance.json",
                        )
                    },
                }
            }
            s = Substituter(step_tree).apply(_merge_template(template, s))
            if artifacts:
                dirs.append(self.tekton("steps") / f"step-{name}" / "artifacts")
            container = self.container(s, "step", name, i, isolated)
            # a step writes only its own /tekton/run/<i>; the others' are read-only (Tekton mounts them so)
            container.mounts.append(Mount(self.tekton("run") / str(i), f"/tekton/run/{i}"))
            containers.append(container)
        sidecars = []
        sc_names = []
        for i, sc in enumerate(spec.get("sidecars") or []):
            name = sc.get("name") or f"unnamed-{i}"
            sc_names.append(name)
            sidecars.append(self.container(sc, "sidecar", name, i, isolated))
        sa = self.env.get("ServiceAccount", self.service_account_name(), self.ns)
        if not self.env.config.flag("disable-creds-init"):
            envmod.init_credentials(sa, self.ns, self.env.get, self.tekton("home"), self.secrets)
        self.common = [Mount(self.run_dir / "workspace", "/workspace")]
        self.common += [
            Mount(self.tekton(sub), f"/tekton/{sub}", read_only=sub in ("run", "bin"))
            for sub in TEKTON_SUBDIRS
        ]
        timeout = self.timeout()
        hermetic = (
            self.annotations.get(HERMETIC_ANNOTATION) == "hermetic"
            or ((self.tr_spec.get("taskSpec") or {}).get("metadata") or {})
            .get("annotations", {})
            .get(HERMETIC_ANNOTATION)
            == "hermetic"
        )
        pod = Pod(
            name=self.pod_name,
            namespace=self.ns,
            taskrun=self.meta["name"],
            run_dir=self.run_dir,
            steps=containers,
            sidecars=sidecars,
            mounts=self.common,
            hermetic=hermetic,
            secrets=list(self.secrets.values),
            timeout=timeout,
            dirs=dirs,
        )
        result_values = [r for r in spec.get("results") or [] if r.get("value") is not None]
        return Built(pod, status_spec, results_decl, names, sc_names, result_values, self.caches)

    def timeout(self) -> float | None:
        value = self.tr_spec.get("timeout")
        seconds = (
            self.env.config.default_timeout if value is None else (_timeout(value, "spec.timeout") or 0.0)
        )
        return seconds or None

    def context(self) -> JSON:
        ann = self.annotations
        lbl = self.labels
        ctx: JSON = {
            "taskRun": {"name": self.meta["name"], "namespace": self.ns, "uid": self.meta.get("uid", "")},
            "task": {"name": self.task_name()},
        }
        if self.tr_spec.get("taskSpec") is not None:
            ctx["task"]["retry-count"] = str(self.attempt)
        if lbl.get("tekton.dev/pipelineRun"):
            ctx["pipelineRun"] = {
                "name": lbl["tekton.dev/pipelineRun"],
                "namespace": self.ns,
                "uid": lbl.get("tekton.dev/pipelineRunUID", ""),
            }
            ctx["pipeline"] = {"name": lbl.get("tekton.dev/pipeline", "")}
            ctx["pipelineTask"] = {
                "retries": ann.get("tekton.dev/pipelineTaskRetries", str(self.tr_spec.get("retries") or 0))
            }
        return ctx


_VALID_SPECS: dict[bytes, None] = {}  # task specs (as JSON) that passed validation, oldest first
_VALID_SPECS_MAX = 256


def _validate_task_spec(spec: JSON) -> None:
    """``TaskSpec`` validation, remembered for specs seen before: a Task run again and again (a
    pipeline's tasks, a retried run) is checked once; encoding it costs a tenth of checking it."""
    key = orjson.dumps(spec)
    if key in _VALID_SPECS:
        return
    TaskSpec.model_validate(spec)
    if len(_VALID_SPECS) >= _VALID_SPECS_MAX:
        _VALID_SPECS.pop(next(iter(_VALID_SPECS)))
    _VALID_SPECS[key] = None


def build_pod(tr: JSON, task_spec: JSON, *, attempt: int, env: BuildEnv, run_dir: Path) -> Built:
    """Everything the executor needs to run one attempt of ``tr``. Raises :class:`RunSetupError`."""
    _validate_task_spec(task_spec)
    return _Builder(tr, task_spec, attempt, env, run_dir).build()
