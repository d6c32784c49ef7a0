"""The one-writer folder lock and the removal of interrupted writes' temp files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from easyfirst.atomic import PARTIAL, atomic_write_text, remove_partial_writes
from easyfirst.locks import (
    LOCK,
    MANIFEST,
    FolderLockedError,
    folder_lock,
    read_manifest,
    write_manifest,
)


def _write_lock(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-01 10:00:00",
             "command": "easyfirst score --out x", **fields}
    (folder / LOCK).write_text(json.dumps(owner))
    return owner


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_is_held_for_the_block_and_removed_after(tmp_path):
    out = tmp_path / "run"
    with folder_lock(out):
        owner = json.loads((out / LOCK).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        (out / "result.txt").write_text("x")
    assert not (out / LOCK).exists() and (out / "result.txt").is_file()


def test_live_lock_refuses_a_second_writer_naming_the_owner(tmp_path):
    _write_lock(tmp_path, pid=os.getppid())  # a live process (pytest's parent)
    with pytest.raises(FolderLockedError) as err, folder_lock(tmp_path):
        pass
    msg = str(err.value)
    assert "\n" not in msg and f"pid {os.getppid()}" in msg and socket.gethostname() in msg
    assert "choose another --out folder" in msg and str(tmp_path / LOCK) in msg
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getppid()  # untouched


def test_lock_of_another_host_is_never_taken_over(tmp_path):
    _write_lock(tmp_path, host="elsewhere.example", pid=_dead_pid())
    with pytest.raises(FolderLockedError, match="on host elsewhere.example"), \
            folder_lock(tmp_path):
        pass


def test_stale_lock_is_named_and_taken_over(tmp_path, capsys):
    pid = _dead_pid()
    _write_lock(tmp_path, pid=pid)
    with folder_lock(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert "stale lock" in err and f"pid {pid}" in err and err.count("\n") == 1
    assert not (tmp_path / LOCK).exists()


def test_refused_lock_leaves_no_new_folder_and_a_file_is_refused(tmp_path):
    with folder_lock(tmp_path / "new"):
        pass
    assert not (tmp_path / "new").exists()  # created, nothing written: removed again
    (tmp_path / "file").write_text("mine")
    with pytest.raises(NotADirectoryError, match="Expected --out to be a folder"), \
            folder_lock(tmp_path / "file"):
        pass
    assert (tmp_path / "file").read_text() == "mine"


def test_partial_writes_are_removed_by_the_next_owner(tmp_path):
    atomic_write_text(tmp_path / "kept.json", "{}")
    write_manifest(tmp_path, "score", ["seeds", "kept.json"])
    (tmp_path / "seeds").mkdir()
    (tmp_path / "sub").mkdir()
    stray = [tmp_path / f".summary.json.k3j2{PARTIAL}", tmp_path / "seeds" / ".dynamics.pt.x.tmp",
             tmp_path / "seeds" / f".m.json.y{PARTIAL}",  # an earlier version's; this one's
             tmp_path / f"{LOCK}.4242.99{PARTIAL}"]  # a lock's temp file, its run killed
    users = [tmp_path / ".notes.tmp", tmp_path / "sub" / ".draft.partial",
             tmp_path / "sub" / f".other_run.json.z{PARTIAL}", tmp_path / ".old.json.x.partial"]
    for p in stray + users:
        p.write_bytes(b"half")
    with folder_lock(tmp_path):
        assert not any(p.exists() for p in stray)
    assert all(p.read_bytes() == b"half" for p in users)  # not the run's: never touched
    assert (tmp_path / "kept.json").read_text() == "{}"
    assert remove_partial_writes(tmp_path, ["seeds"]) == []


def test_a_manifest_that_is_not_one_is_refused(tmp_path):
    for text in ("garbage", '{"format": "easyfirst.outputs", "outputs": ["../x"]}',
                 '{"format": "easyfirst.outputs", "outputs": [".easyfirst.lock"]}'):
        (tmp_path / MANIFEST).write_text(text)
        with pytest.raises(ValueError, match=r"to list the run's own outputs \(top-level "
                           r"names\); it does not\. Restore it, or delete it"):
            read_manifest(tmp_path)
    (tmp_path / MANIFEST).unlink()
    assert read_manifest(tmp_path) is None


def test_lock_is_complete_when_it_appears_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """A rival that finds the lock reads its owner (it is linked into place already written)."""
    seen = []
    real_link = os.link

    def link(src, dst):
        seen.append(json.loads(Path(src).read_text(encoding="utf-8")))  # written before linking
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    out = tmp_path / "run"
    with folder_lock(out):
        assert seen and seen[0]["pid"] == os.getpid()
        assert sorted(p.name for p in out.iterdir()) == [LOCK]
    assert not out.exists()


def test_lock_without_hard_links_falls_back_to_exclusive_create(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(os, "link", no_link)
    out = tmp_path / "run"
    with folder_lock(out):
        assert json.loads((out / LOCK).read_text())["pid"] == os.getpid()
        assert sorted(p.name for p in out.iterdir()) == [LOCK]
        with pytest.raises(FolderLockedError, match=f"pid {os.getpid()}"), folder_lock(out):
            pass
    assert not out.exists()
