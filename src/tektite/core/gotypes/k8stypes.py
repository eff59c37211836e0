"""Field tables of the Kubernetes meta/v1 and core/v1 Go types inside Tekton runs.

Only what Chains' output depends on is modelled field by field; the rest of core/v1 (security
contexts, probes, volume sources, ...) is kept as written (``RAW``).
"""

from __future__ import annotations

from tektite.core.gotypes.goschema import BOOL, INT, RAW, STR, TIME, F, MapOf, Ptr, Slice, Struct

__all__ = [
    "CONDITION",
    "CONTAINER_STATE",
    "ENV_VAR",
    "OBJECT_META",
    "RESOURCE_REQUIREMENTS",
    "VOLUME",
    "VOLUME_MOUNT",
]

OBJECT_META = Struct(
    "ObjectMeta",
    [
        F("name", STR),
        F("generateName", STR),
        F("namespace", STR),
        F("selfLink", STR),
        F("uid", STR),
        F("resourceVersion", STR),
        F("generation", INT),
        F("creationTimestamp", TIME),
        F("deletionTimestamp", Ptr(TIME)),
        F("deletionGracePeriodSeconds", Ptr(INT)),
        F("labels", MapOf(STR)),
        F("annotations", MapOf(STR)),
        F("ownerReferences", Slice(RAW)),
        F("finalizers", Slice(STR)),
        F("managedFields", Slice(RAW)),
    ],
)
ENV_VAR = Struct("EnvVar", [F("name", STR, False), F("value", STR), F("valueFrom", Ptr(RAW))])
VOLUME_MOUNT = Struct(
    "VolumeMount",
    [
        F("name", STR, False),
        F("readOnly", BOOL),
        F("recursiveReadOnly", Ptr(STR)),
        F("mountPath", STR, False),
        F("subPath", STR),
        F("mountPropagation", Ptr(STR)),
        F("subPathExpr", STR),
    ],
)
RESOURCE_REQUIREMENTS = Struct(
    "ResourceRequirements",
    [
        F("limits", MapOf(RAW)),
        F("requests", MapOf(RAW)),
        F("claims", Slice(RAW)),
    ],
)
_VOLUME_SOURCES = [
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
]
VOLUME = Struct("Volume", [F("name", STR, False), *(F(n, Ptr(RAW)) for n in _VOLUME_SOURCES)])
CONTAINER_STATE = Struct(
    "ContainerState",
    [
        F("waiting", Ptr(Struct("ContainerStateWaiting", [F("reason", STR), F("message", STR)]))),
        F("running", Ptr(Struct("ContainerStateRunning", [F("startedAt", TIME)]))),
        F(
            "terminated",
            Ptr(
                Struct(
                    "ContainerStateTerminated",
                    [
                        F("exitCode", INT, False),
                        F("signal", INT),
                        F("reason", STR),
                        F("message", STR),
                        F("startedAt", TIME),
                        F("finishedAt", TIME),
                        F("containerID", STR),
                    ],
                )
            ),
        ),
    ],
)
CONDITION = Struct(
    "Condition",
    [
        F("type", STR, False),
        F("status", STR, False),
        F("severity", STR),
        F("lastTransitionTime", TIME),
        F("reason", STR),
        F("message", STR),
    ],
)
