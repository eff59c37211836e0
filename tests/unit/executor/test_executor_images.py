from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tektite.errors import ValidationError
from tektite.executor.images import CONFIGMAP_KEY, ImageConfig, compat_links


@pytest.mark.parametrize(
    ("image", "entrypoint"),
    [
        ("mirror.gcr.io/ubuntu", ["bash"]),
        ("mirror.gcr.io/ubuntu@sha256:" + "0" * 64, ["bash"]),
        ("mirror.gcr.io/busybox", ["sh"]),
        ("mirror.gcr.io/alpine", ["/bin/sh"]),
        ("mirror.gcr.io/python:3.12.4", ["python3"]),
        ("gcr.io/some/unknown-tool:v1", None),
    ],
)
def test_builtin_rules_run_common_images_on_the_host(image: str, entrypoint: list[str] | None) -> None:
    mapping = ImageConfig().resolve(image)
    assert mapping.kind == "host"
    assert mapping.entrypoint == entrypoint


def test_tekton_nop_image_prints_and_succeeds() -> None:
    mapping = ImageConfig().resolve(
        "ghcr.io/tektoncd/pipeline/nop-8eac7c133edad5df719dc37b36b62482@sha256:5a58"
    )
    assert mapping.entrypoint is not None and mapping.entrypoint[0] == "sh"


def test_user_rules_come_first_and_first_match_wins(tmp_path: Path) -> None:
    config = ImageConfig.from_configmap(
        {
            "metadata": {"name": "tektite-images"},
            "data": {
                CONFIGMAP_KEY: f"""
- match: "registry.local/builder:*"
  run: rootfs:{tmp_path}
  entrypoint: [/usr/bin/make]
- match: "*ubuntu*"
  run: host
  entrypoint: [/bin/dash]
- match: "*"
  run: rootfs:/never
"""
            },
        }
    )
    builder = config.resolve("registry.local/builder:1.2")
    assert (builder.kind, builder.rootfs, builder.entrypoint) == ("rootfs", tmp_path, ["/usr/bin/make"])
    assert "rule 0" in builder.rule
    assert config.resolve("docker.io/library/ubuntu:22.04").entrypoint == ["/bin/dash"]
    assert config.resolve("anything/else").rootfs == Path("/never")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("- match: '*'\n  run: docker\n", "[0].run"),
        ("- match: '*'\n  run: rootfs:relative/dir\n", "[0].run"),
        ("- match: '*'\n  runs: host\n", "[0].runs"),
        ("- run: host\n", "[0].match"),
        ("- match: '*'\n  entrypoint: []\n", "[0].entrypoint"),
        ("match: '*'\n", "images.yaml"),
        ("- [unclosed\n", "images.yaml"),
    ],
)
def test_invalid_rules_say_where_and_what(text: str, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        ImageConfig.from_yaml(text)
    message = str(info.value)
    assert "ConfigMap tektite-images" in message
    assert where in message


def test_unknown_configmap_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"images\.yml"):
        ImageConfig.from_configmap({"data": {"images.yml": "[]"}})


def test_empty_configmap_keeps_builtin_rules() -> None:
    assert ImageConfig.from_configmap({"data": {}}).resolve("ubuntu").entrypoint == ["bash"]


def test_host_image_id_names_this_host_and_its_os() -> None:
    image_id = ImageConfig().image_id("mirror.gcr.io/ubuntu")
    assert image_id.startswith(f"host://{socket.gethostname()}")
    release = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    )
    assert f"os={release['ID'].strip(chr(34))}-" in image_id
    assert "sha256" not in image_id


def test_rootfs_image_id_names_the_directory_and_its_os(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n')
    config = ImageConfig.from_yaml(f"- match: 'alpine*'\n  run: rootfs:{tmp_path}\n")
    assert config.image_id("alpine:3.19") == f"rootfs://{tmp_path}?os=alpine-3.19.1"


def test_compat_ash_points_at_a_real_shell() -> None:
    links = compat_links()
    assert "ash" in links
    assert Path(links["ash"]).is_file()


def test_shell_field_is_kept_and_validated() -> None:
    config = ImageConfig.from_yaml("- match: 'acme/*'\n  shell: /usr/bin/bash\n")
    assert config.resolve("acme/x").shell == "/usr/bin/bash"
    with pytest.raises(ValidationError, match=r"\[0\]\.shell"):
        ImageConfig.from_yaml("- match: '*'\n  shell: 'bash -e'\n")
