"""Field tables of the tekton.dev/v1 Go types Chains (un)marshals, in declaration order.

Tekton's own types are modelled field by field, with their exact ``json`` tags. Kubernetes
core/v1 structures Chains never looks into (security contexts, probes, volume sources, pod
templates, ...) are kept as written (``RAW``): a run read back from a cluster already has them in
their marshaled form.
"""

from __future__ import annotations

from tektite.core.gotypes.goschema import (
    BOOL,
    DURATION,
    INT,
    PARAM_VALUE,
    RAW,
    RAW_EXTENSION,
    STR,
    TIME,
    F,
    Inline,
    MapOf,
    Ptr,
    Slice,
    Struct,
)
from tektite.core.gotypes.k8stypes import (
    CONDITION,
    CONTAINER_STATE,
    ENV_VAR,
    OBJECT_META,
    RESOURCE_REQUIREMENTS,
    VOLUME,
    VOLUME_MOUNT,
)

__all__ = ["FEATURE_FLAG_FIELDS", "PIPELINE_RUN", "PIPELINE_RUN_SPEC", "TASK_RUN", "TASK_RUN_SPEC"]

# --- tekton.dev/v1 building blocks --------------------------------------------------------------

PARAM = Struct("Param", [F("name", STR, False), F("value", PARAM_VALUE, False)])
PARAMS = Slice(PARAM)
PROPERTY_SPEC = Struct("PropertySpec", [F("type", STR)])
PARAM_SPEC = Struct(
    "ParamSpec",
    [
        F("name", STR, False),
        F("type", STR),
        F("description", STR),
        F("properties", MapOf(PROPERTY_SPEC)),
        F("default", Ptr(PARAM_VALUE)),
        F("enum", Slice(STR)),
    ],
)
RESOLVER_REF = Struct("ResolverRef", [F("resolver", STR), F("params", PARAMS)])
TASK_REF = Struct(
    "TaskRef",
    [
        F("name", STR),
        F("kind", STR),
        F("apiVersion", STR),
        Inline(RESOLVER_REF),
    ],
)
PIPELINE_REF = Struct("PipelineRef", [F("name", STR), F("apiVersion", STR), Inline(RESOLVER_REF)])
STEP_REF = Struct("Ref", [F("name", STR), Inline(RESOLVER_REF)])
WHEN_EXPRESSION = Struct(
    "WhenExpression",
    [
        F("input", STR),
        F("operator", STR),
        F("values", Slice(STR)),
        F("cel", STR),
    ],
)
WORKSPACE_USAGE = Struct("WorkspaceUsage", [F("name", STR, False), F("mountPath", STR, False)])
STEP_OUTPUT_CONFIG = Struct("StepOutputConfig", [F("path", STR)])
STEP_RESULT = Struct(
    "StepResult",
    [
        F("name", STR, False),
        F("type", STR),
        F("properties", MapOf(PROPERTY_SPEC)),
        F("description", STR),
    ],
)
_CONTAINER_HEAD = [
    F("image", STR),
    F("command", Slice(STR)),
    F("args", Slice(STR)),
    F("workingDir", STR),
]
STEP = Struct(
    "Step",
    [
        F("name", STR, False),
        F("displayName", STR),
        *_CONTAINER_HEAD,
        F("envFrom", Slice(RAW)),
        F("env", Slice(ENV_VAR)),
        F("computeResources", RESOURCE_REQUIREMENTS),
        F("volumeMounts", Slice(VOLUME_MOUNT)),
        F("volumeDevices", Slice(RAW)),
        F("imagePullPolicy", STR),
        F("securityContext", Ptr(RAW)),
        F("script", STR),
        F("timeout", Ptr(DURATION)),
        F("workspaces", Slice(WORKSPACE_USAGE)),
        F("onError", STR),
        F("stdoutConfig", Ptr(STEP_OUTPUT_CONFIG)),
        F("stderrConfig", Ptr(STEP_OUTPUT_CONFIG)),
        F("ref", Ptr(STEP_REF)),
        F("params", PARAMS),
        F("results", Slice(STEP_RESULT)),
        F("when", Slice(WHEN_EXPRESSION)),
    ],
)
STEP_TEMPLATE = Struct(
    "StepTemplate",
    [
        *_CONTAINER_HEAD,
        F("envFrom", Slice(RAW)),
        F("env", Slice(ENV_VAR)),
        F("computeResources", RESOURCE_REQUIREMENTS),
        F("volumeMounts", Slice(VOLUME_MOUNT)),
        F("volumeDevices", Slice(RAW)),
        F("imagePullPolicy", STR),
        F("securityContext", Ptr(RAW)),
    ],
)
SIDECAR = Struct(
    "Sidecar",
    [
        F("name", STR, False),
        *_CONTAINER_HEAD,
        F("ports", Slice(RAW)),
        F("envFrom", Slice(RAW)),
        F("env", Slice(ENV_VAR)),
        F("computeResources", RESOURCE_REQUIREMENTS),
        F("volumeMounts", Slice(VOLUME_MOUNT)),
        F("volumeDevices", Slice(RAW)),
        F("livenessProbe", Ptr(RAW)),
        F("readinessProbe", Ptr(RAW)),
        F("startupProbe", Ptr(RAW)),
        F("lifecycle", Ptr(RAW)),
        F("terminationMessagePath", STR),
        F("terminationMessagePolicy", STR),
        F("imagePullPolicy", STR),
        F("securityContext", Ptr(RAW)),
        F("stdin", BOOL),
        F("stdinOnce", BOOL),
        F("tty", BOOL),
        F("script", STR),
        F("workspaces", Slice(WORKSPACE_USAGE)),
        F("restartPolicy", Ptr(STR)),
    ],
)
WORKSPACE_DECLARATION = Struct(
    "WorkspaceDeclaration",
    [
        F("name", STR, False),
        F("description", STR),
        F("mountPath", STR),
        F("readOnly", BOOL),
        F("optional", BOOL),
    ],
)
TASK_RESULT = Struct(
    "TaskResult",
    [
        F("name", STR, False),
        F("type", STR),
        F("properties", MapOf(PROPERTY_SPEC)),
        F("description", STR),
        F("value", Ptr(PARAM_VALUE)),
    ],
)
TASK_SPEC = Struct(
    "TaskSpec",
    [
        F("params", Slice(PARAM_SPEC)),
        F("displayName", STR),
        F("description", STR),
        F("steps", Slice(STEP)),
        F("volumes", Slice(VOLUME)),
        F("stepTemplate", Ptr(STEP_TEMPLATE)),
        F("sidecars", Slice(SIDECAR)),
        F("workspaces", Slice(WORKSPACE_DECLARATION)),
        F("results", Slice(TASK_RESULT)),
    ],
)
WORKSPACE_BINDING = Struct(
    "WorkspaceBinding",
    [
        F("name", STR, False),
        F("subPath", STR),
        F("volumeClaimTemplate", Ptr(RAW)),
        F("persistentVolumeClaim", Ptr(RAW)),
        F("emptyDir", Ptr(RAW)),
        F("configMap", Ptr(RAW)),
        F("secret", Ptr(RAW)),
        F("projected", Ptr(RAW)),
        F("csi", Ptr(RAW)),
    ],
)
TASK_RUN_STEP_SPEC = Struct(
    "TaskRunStepSpec",
    [
        F("name", STR, False),
        F("computeResources", RESOURCE_REQUIREMENTS, False),
    ],
)
TASK_RUN_DEBUG = Struct(
    "TaskRunDebug",
    [
        F("breakpoints", Ptr(Struct("TaskBreakpoints", [F("onFailure", STR), F("beforeSteps", Slice(STR))]))),
    ],
)

TASK_RUN_SPEC = Struct(
    "TaskRunSpec",
    [
        F("debug", Ptr(TASK_RUN_DEBUG)),
        F("params", PARAMS),
        F("serviceAccountName", STR, False),
        F("taskRef", Ptr(TASK_REF)),
        F("taskSpec", Ptr(TASK_SPEC)),
        F("status", STR),
        F("statusMessage", STR),
        F("retries", INT),
        F("timeout", Ptr(DURATION)),
        F("podTemplate", Ptr(RAW)),
        F("workspaces", Slice(WORKSPACE_BINDING)),
        F("stepSpecs", Slice(TASK_RUN_STEP_SPEC)),
        F("sidecarSpecs", Slice(TASK_RUN_STEP_SPEC)),
        F("computeResources", Ptr(RESOURCE_REQUIREMENTS)),
        F("managedBy", Ptr(STR)),
    ],
)

# The Go field names of Tekton Pipelines' config.FeatureFlags (no json tags: every field is
# written, zero or not), in declaration order, as Chains' end-to-end expectations show them.
FEATURE_FLAG_FIELDS: list[tuple[str, str]] = [
    ("DisableAffinityAssistant", "bool"),
    ("DisableCredsInit", "bool"),
    ("RunningInEnvWithInjectedSidecars", "bool"),
    ("RequireGitSSHSecretKnownHosts", "bool"),
    ("EnableTektonOCIBundles", "bool"),
    ("ScopeWhenExpressionsToTask", "bool"),
    ("EnableAPIFields", "string"),
    ("SendCloudEventsForRuns", "bool"),
    ("AwaitSidecarReadiness", "bool"),
    ("EnforceNonfalsifiability", "string"),
    ("EnableKeepPodOnCancel", "bool"),
    ("VerificationNoMatchPolicy", "string"),
    ("EnableProvenanceInStatus", "bool"),
    ("ResultExtractionMethod", "string"),
    ("MaxResultSize", "int"),
    ("SetSecurityContext", "bool"),
    ("Coschedule", "string"),
    ("EnableCELInWhenExpression", "bool"),
    ("EnableStepActions", "bool"),
    ("EnableParamEnum", "bool"),
    ("EnableArtifacts", "bool"),
]
_GO_KINDS = {"bool": BOOL, "string": STR, "int": INT}
FEATURE_FLAGS = Struct(
    "FeatureFlags", [F(name, _GO_KINDS[kind], False) for name, kind in FEATURE_FLAG_FIELDS]
)
REF_SOURCE = Struct("RefSource", [F("uri", STR), F("digest", MapOf(STR)), F("entryPoint", STR)])
PROVENANCE = Struct("Provenance", [F("refSource", Ptr(REF_SOURCE)), F("featureFlags", Ptr(FEATURE_FLAGS))])
RUN_RESULT = Struct("TaskRunResult", [F("name", STR, False), F("type", STR), F("value", PARAM_VALUE, False)])
STEP_STATE = Struct(
    "StepState",
    [
        Inline(CONTAINER_STATE),
        F("name", STR),
        F("container", STR),
        F("imageID", STR),
        F("results", Slice(RUN_RESULT)),
        F("provenance", Ptr(PROVENANCE)),
        F("terminationReason", STR),
        F("inputs", Slice(RAW)),
        F("outputs", Slice(RAW)),
    ],
)
SIDECAR_STATE = Struct(
    "SidecarState",
    [
        Inline(CONTAINER_STATE),
        F("name", STR),
        F("container", STR),
        F("imageID", STR),
    ],
)
DUCK_STATUS = Struct(
    "Status",
    [
        F("observedGeneration", INT),
        F("conditions", Slice(CONDITION)),
        F("annotations", MapOf(STR)),
    ],
)
_TASK_RUN_STATUS_FIELDS = [
    F("podName", STR, False),
    F("startTime", Ptr(TIME)),
    F("completionTime", Ptr(TIME)),
    F("steps", Slice(STEP_STATE)),
]
_TASK_RUN_STATUS_TAIL = [
    F("results", Slice(RUN_RESULT)),
    F("artifacts", Ptr(RAW)),
    F("sidecars", Slice(SIDECAR_STATE)),
    F("taskSpec", Ptr(TASK_SPEC)),
    F("provenance", Ptr(PROVENANCE)),
    F("spanContext", MapOf(STR)),
]
_RETRY_STATUS = Struct(
    "TaskRunStatus",
    [Inline(DUCK_STATUS), *_TASK_RUN_STATUS_FIELDS, F("retriesStatus", Slice(RAW)), *_TASK_RUN_STATUS_TAIL],
)
TASK_RUN_STATUS = Struct(
    "TaskRunStatus",
    [
        Inline(DUCK_STATUS),
        *_TASK_RUN_STATUS_FIELDS,
        F("retriesStatus", Slice(_RETRY_STATUS)),
        *_TASK_RUN_STATUS_TAIL,
    ],
)
TASK_RUN = Struct(
    "TaskRun",
    [
        F("kind", STR),
        F("apiVersion", STR),
        F("metadata", OBJECT_META),
        F("spec", TASK_RUN_SPEC),
        F("status", TASK_RUN_STATUS),
    ],
)

# --- pipelines ----------------------------------------------------------------------------------

PIPELINE_TASK_METADATA = Struct(
    "PipelineTaskMetadata", [F("labels", MapOf(STR)), F("annotations", MapOf(STR))]
)
EMBEDDED_TASK = Struct(
    "EmbeddedTask",
    [
        F("apiVersion", STR),
        F("kind", STR),
        F("spec", RAW_EXTENSION),
        F("metadata", PIPELINE_TASK_METADATA),
        Inline(TASK_SPEC),
    ],
)
MATRIX = Struct(
    "Matrix",
    [
        F("params", PARAMS),
        F("include", Slice(Struct("IncludeParams", [F("name", STR), F("params", PARAMS)]))),
    ],
)
_PIPELINE_TASK_FIELDS: list[F | Inline] = [
    F("name", STR),
    F("displayName", STR),
    F("description", STR),
    F("taskRef", Ptr(TASK_REF)),
    F("taskSpec", Ptr(EMBEDDED_TASK)),
    F("when", Slice(WHEN_EXPRESSION)),
    F("retries", INT),
    F("runAfter", Slice(STR)),
    F("params", PARAMS),
    F("matrix", Ptr(MATRIX)),
    F(
        "workspaces",
        Slice(
            Struct(
                "WorkspacePipelineTaskBinding",
                [F("name", STR, False), F("workspace", STR), F("subPath", STR)],
            )
        ),
    ),
    F("timeout", Ptr(DURATION)),
    F("pipelineRef", Ptr(PIPELINE_REF)),
]
# pipelineSpec inside a PipelineTask nests the same shape; one level of nesting is modelled, deeper
# levels are kept as written.
_NESTED_PIPELINE_TASK = Struct(
    "PipelineTask",
    [
        *_PIPELINE_TASK_FIELDS,
        F("pipelineSpec", Ptr(RAW)),
        F("onError", STR),
    ],
)


def _pipeline_spec(task: Struct) -> Struct:
    return Struct(
        "PipelineSpec",
        [
            F("displayName", STR),
            F("description", STR),
            F("tasks", Slice(task)),
            F("params", Slice(PARAM_SPEC)),
            F(
                "workspaces",
                Slice(
                    Struct(
                        "PipelineWorkspaceDeclaration",
                        [F("name", STR, False), F("description", STR), F("optional", BOOL)],
                    )
                ),
            ),
            F(
                "results",
                Slice(
                    Struct(
                        "PipelineResult",
                        [
                            F("name", STR, False),
                            F("type", STR),
                            F("description", STR, False),
                            F("value", PARAM_VALUE, False),
                        ],
                    )
                ),
            ),
            F("finally", Slice(task)),
        ],
    )


PIPELINE_TASK = Struct(
    "PipelineTask",
    [
        *_PIPELINE_TASK_FIELDS,
        F("pipelineSpec", Ptr(_pipeline_spec(_NESTED_PIPELINE_TASK))),
        F("onError", STR),
    ],
)
PIPELINE_SPEC = _pipeline_spec(PIPELINE_TASK)
PIPELINE_TASK_RUN_SPEC = Struct(
    "PipelineTaskRunSpec",
    [
        F("pipelineTaskName", STR),
        F("serviceAccountName", STR),
        F("podTemplate", Ptr(RAW)),
        F("stepSpecs", Slice(TASK_RUN_STEP_SPEC)),
        F("sidecarSpecs", Slice(TASK_RUN_STEP_SPEC)),
        F("metadata", Ptr(PIPELINE_TASK_METADATA)),
        F("computeResources", Ptr(RESOURCE_REQUIREMENTS)),
        F("timeout", Ptr(DURATION)),
    ],
)
PIPELINE_RUN_SPEC = Struct(
    "PipelineRunSpec",
    [
        F("pipelineRef", Ptr(PIPELINE_REF)),
        F("pipelineSpec", Ptr(PIPELINE_SPEC)),
        F("params", PARAMS),
        F("status", STR),
        F(
            "timeouts",
            Ptr(
                Struct(
                    "TimeoutFields",
                    [F("pipeline", Ptr(DURATION)), F("tasks", Ptr(DURATION)), F("finally", Ptr(DURATION))],
                )
            ),
        ),
        F(
            "taskRunTemplate",
            Struct("PipelineTaskRunTemplate", [F("podTemplate", Ptr(RAW)), F("serviceAccountName", STR)]),
        ),
        F("workspaces", Slice(WORKSPACE_BINDING)),
        F("taskRunSpecs", Slice(PIPELINE_TASK_RUN_SPEC)),
        F("managedBy", Ptr(STR)),
    ],
)
PIPELINE_RUN_STATUS = Struct(
    "PipelineRunStatus",
    [
        Inline(DUCK_STATUS),
        F("startTime", Ptr(TIME)),
        F("completionTime", Ptr(TIME)),
        F(
            "results",
            Slice(Struct("PipelineRunResult", [F("name", STR, False), F("value", PARAM_VALUE, False)])),
        ),
        F("pipelineSpec", Ptr(PIPELINE_SPEC)),
        F("skippedTasks", Slice(RAW)),
        F("childReferences", Slice(RAW)),
        F("finallyStartTime", Ptr(TIME)),
        F("provenance", Ptr(PROVENANCE)),
        F("spanContext", MapOf(STR)),
    ],
)
PIPELINE_RUN = Struct(
    "PipelineRun",
    [
        F("kind", STR),
        F("apiVersion", STR),
        F("metadata", OBJECT_META),
        F("spec", PIPELINE_RUN_SPEC),
        F("status", PIPELINE_RUN_STATUS),
    ],
)
