from __future__ import annotations

from pathlib import Path

from tektite.executor.sandbox import hostname_for, root_args


def tree(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    (etc / "ssl").mkdir(parents=True)
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (etc / "alt").symlink_to("/usr/share/alt")
    return etc


def test_directories_are_bound_whole_when_every_mount_point_exists(tmp_path: Path) -> None:
    etc = tree(tmp_path)
    args, exploded = root_args([("etc", etc)], ["/etc/ssl", "/workspace/src"])
    assert args == ["--ro-bind", str(etc), "/etc"]
    assert exploded == []


def test_a_missing_mount_point_explodes_only_the_directory_that_lacks_it(tmp_path: Path) -> None:
    etc = tree(tmp_path)
    args, exploded = root_args([("etc", etc)], ["/etc/app/config"])
    assert exploded == ["/etc"]
    assert args[:2] == ["--tmpfs", "/etc"]
    rest = args[2:]
    assert rest[0:3] == ["--symlink", "/usr/share/alt", "/etc/alt"]
    assert ["--ro-bind-try", str(etc / "hosts"), "/etc/hosts"] == rest[3:6]
    assert ["--ro-bind", str(etc / "ssl"), "/etc/ssl"] == rest[6:9]


def test_nested_missing_mount_point_explodes_each_level(tmp_path: Path) -> None:
    etc = tree(tmp_path)
    args, exploded = root_args([("etc", etc)], ["/etc/ssl/private/key.pem"])
    assert exploded == ["/etc", "/etc/ssl"]
    assert args[args.index("/etc/ssl") - 1 : args.index("/etc/ssl") + 1] == ["--tmpfs", "/etc/ssl"]


def test_symlinked_root_entries_stay_symlinks(tmp_path: Path) -> None:
    (tmp_path / "bin").symlink_to("usr/bin")
    args, _ = root_args([("bin", tmp_path / "bin"), ("absent", tmp_path / "absent")], [])
    assert args == ["--symlink", "usr/bin", "/bin"]


def test_hostnames_are_valid_labels() -> None:
    assert hostname_for("build-x-pod") == "build-x-pod"
    assert hostname_for("Weird_Name!" + "a" * 100) == ("weird-name-" + "a" * 100)[:63]
    assert hostname_for("___") == "tektite"
