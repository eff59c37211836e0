"""What runs an image: the ``tektite-images`` ConfigMap.

There is no container runtime here, so an image reference is mapped to something local:

* ``host``: the machine's own filesystem (read-only in the ``sandbox`` executor);
* ``rootfs:<dir>``: a root filesystem directory (an unpacked image), ``sandbox`` only.

The ConfigMap holds one key, ``images.yaml``: a list of rules, first match wins::

    - match: "registry.example.com/builder:*"   # glob on the full image reference
      run: rootfs:/srv/images/builder
      entrypoint: ["/usr/bin/make"]             # what runs when a step has no command
    - match: "*"
      run: host

After the user's rules come tektite's built-in rules (ubuntu, debian, bash, busybox, alpine,
python and Tekton's nop image on the host with the command their real image would run), then
``*`` -> ``host``. ``entrypoint`` follows Tekton's lookup: the image's ENTRYPOINT, or its CMD when
it has no ENTRYPOINT; a step's ``args`` are appended to it. ``shell`` names what stands in for the
image's ``/bin/sh`` (alpine and busybox: ``ash``, tektite's compatibility ash): scripts without a
shebang, ``#!/bin/sh`` and ``#!/usr/bin/env sh`` scripts and ``sh``/``/bin/sh`` commands run it.

:func:`ImageConfig.image_id` records what really ran (``host://<hostname>?os=debian-12``,
``rootfs:///srv/images/builder?os=alpine-3.19``); tektite never makes up a digest.
"""

from __future__ import annotations

import functools
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from tektite.errors import FieldError, ValidationError

CONFIGMAP_NAME = "tektite-images"
CONFIGMAP_KEY = "images.yaml"

NOP_COMMAND = ["sh", "-c", "echo 'Build successful'"]
# the bash image's ENTRYPOINT, docker-entrypoint.sh: options (or nothing) go to bash, else run them
BASH_ENTRYPOINT = [
    "sh", "-c", 'if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then exec bash "$@"; fi; exec "$@"',
    "docker-entrypoint.sh",
]  # fmt: skip


class ImageRule(pydantic.BaseModel):
    """One rule of ``images.yaml``."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    match: str
    run: str = "host"
    entrypoint: list[str] | None = None
    shell: str | None = None  # what stands in for the image's /bin/sh ("ash": tektite's compat ash)

    @pydantic.field_validator("match")
    @classmethod
    def _match(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a glob on the image reference, e.g. '*ubuntu*' or '*'")
        return value

    @pydantic.field_validator("run")
    @classmethod
    def _run(cls, value: str) -> str:
        if value == "host":
            return value
        if value.startswith("rootfs:"):
            path = value[len("rootfs:") :]
            if not path.startswith("/"):
                raise ValueError(
                    f"rootfs needs an absolute directory, e.g. rootfs:/srv/images/x, found {value!r}"
                )
            return value
        raise ValueError(f"expected 'host' or 'rootfs:<absolute dir>', found {value!r}")

    @pydantic.field_validator("shell")
    @classmethod
    def _shell(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or " " in value):
            raise ValueError(f"expected one program (a name on PATH or an absolute path), found {value!r}")
        return value

    @pydantic.field_validator("entrypoint")
    @classmethod
    def _entrypoint(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must name at least the program to run, e.g. ['/bin/sh']")
        return value


BUILTIN_RULES: tuple[ImageRule, ...] = (
    ImageRule(match="*tektoncd/pipeline/nop*", run="host", entrypoint=NOP_COMMAND),
    ImageRule(match="*ubuntu*", run="host", entrypoint=["bash"]),  # CMD ["bash"]
    ImageRule(match="*debian*", run="host", entrypoint=["bash"]),  # CMD ["bash"]
    ImageRule(match="*bash*", run="host", entrypoint=BASH_ENTRYPOINT),  # docker-entrypoint.sh
    ImageRule(match="*busybox*", run="host", entrypoint=["sh"], shell="ash"),  # CMD ["sh"]; sh is ash
    ImageRule(match="*alpine*", run="host", entrypoint=["/bin/sh"], shell="ash"),  # CMD ["/bin/sh"]
    ImageRule(match="*python*", run="host", entrypoint=["python3"]),  # CMD ["python3"]
    ImageRule(match="*", run="host"),
)


@dataclass(frozen=True)
class ImageMapping:
    """What the images config says about one image reference."""

    image: str
    kind: Literal["host", "rootfs"]
    rootfs: Path | None
    entrypoint: list[str] | None
    rule: str  # where the rule came from, for messages: "tektite-images rule 2" / "built-in rule '*ubuntu*'"
    shell: str | None = None


class ImageConfig:
    """The ordered image rules: the user's, then the built-in ones."""

    def __init__(self, rules: Sequence[ImageRule] = (), *, source: str = CONFIGMAP_NAME) -> None:
        self.rules = list(rules)
        self.source = source

    @classmethod
    def from_yaml(cls, text: str, *, source: str = f"ConfigMap {CONFIGMAP_NAME}") -> ImageConfig:
        where = f"data[{CONFIGMAP_KEY!r}]"
        try:
            data = yaml.safe_load(text) if text.strip() else []
        except yaml.YAMLError as exc:
            raise ValidationError([FieldError((where,), f"not valid YAML: {exc}")], obj=source) from None
        if data is None:
            data = []
        if not isinstance(data, list):
            raise ValidationError(
                [
                    FieldError(
                        (where,),
                        "must be a list of rules",
                        "a YAML list of {match, run, entrypoint, shell}",
                        type(data).__name__,
                    )
                ],
                obj=source,
            )
        rules, errors = [], []
        for i, item in enumerate(data):
            try:
                rules.append(ImageRule.model_validate(item))
            except pydantic.ValidationError as exc:
                for err in exc.errors():
                    path: tuple[str | int, ...] = (where, i, *(str(p) for p in err["loc"]))
                    message = str(err["msg"]).removeprefix("Value error, ")
                    if err["type"] == "extra_forbidden":
                        message = "unknown field; expected one of match, run, entrypoint, shell"
                    errors.append(FieldError(path, message))
        if errors:
            raise ValidationError(errors, obj=source)
        return cls(rules, source=source)

    @classmethod
    def from_configmap(cls, configmap: Mapping[str, Any]) -> ImageConfig:
        """From a ConfigMap object (as parsed from YAML/JSON); a missing key means no rules."""
        name = (configmap.get("metadata") or {}).get("name", CONFIGMAP_NAME)
        data = configmap.get("data") or {}
        unknown = sorted(set(data) - {CONFIGMAP_KEY})
        if unknown:
            raise ValidationError(
                [FieldError(("data", unknown[0]), "unknown key", repr(CONFIGMAP_KEY), repr(unknown[0]))],
                obj=f"ConfigMap {name}",
            )
        return cls.from_yaml(str(data.get(CONFIGMAP_KEY, "")), source=f"ConfigMap {name}")

    def resolve(self, image: str) -> ImageMapping:
        for i, rule in enumerate(self.rules):
            if fnmatchcase(image, rule.match):
                return _mapping(image, rule, f"{self.source} rule {i} (match {rule.match!r})")
        for rule in BUILTIN_RULES:
            if fnmatchcase(image, rule.match):
                return _mapping(image, rule, f"built-in rule (match {rule.match!r})")
        raise AssertionError("the built-in rules end with '*'")  # pragma: no cover

    def image_id(self, image: str) -> str:
        return image_id(self.resolve(image))


def _mapping(image: str, rule: ImageRule, where: str) -> ImageMapping:
    if rule.run == "host":
        return ImageMapping(image, "host", None, rule.entrypoint, where, rule.shell)
    return ImageMapping(image, "rootfs", Path(rule.run[len("rootfs:") :]), rule.entrypoint, where, rule.shell)


def _os_release(root: Path) -> str | None:
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / candidate).read_text()
        except OSError:
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip('"')
        os_id = fields.get("ID")
        if os_id:
            version = fields.get("VERSION_ID")
            return f"{os_id}-{version}" if version else os_id
    return None


@functools.cache
def host_image_id() -> str:
    """``host://<hostname>?os=<ID>-<VERSION_ID>`` from /etc/os-release."""
    os_name = _os_release(Path("/"))
    return f"host://{socket.gethostname()}" + (f"?os={os_name}" if os_name else "")


def image_id(mapping: ImageMapping) -> str:
    if mapping.kind == "host":
        return host_image_id()
    assert mapping.rootfs is not None
    os_name = _os_release(mapping.rootfs)
    return f"rootfs://{mapping.rootfs}" + (f"?os={os_name}" if os_name else "")


# Alpine and busybox scripts often say `#!/usr/bin/env ash`. The runner puts a directory with
# these names last on PATH (so an image's own programs win), each a symlink to the first host
# program found. busybox implements `ash` itself; bash accepts what busybox ash accepts beyond
# POSIX (`[ a == b ]`, `echo -e`), dash does not, so bash comes before dash.
COMPAT_PROGRAMS: dict[str, tuple[str, ...]] = {
    "ash": ("busybox", "bash", "dash", "sh"),
}


def compat_links() -> dict[str, str]:
    """``{name: absolute host program}`` for the compatibility directory."""
    links = {}
    for name, candidates in COMPAT_PROGRAMS.items():
        for candidate in candidates:
            found = shutil.which(candidate, path="/usr/local/bin:/usr/bin:/bin")
            if found:
                links[name] = found
                break
    return links
