"""One writer per output folder: a lock file that names its owner (pid, host, command).

``folder_lock(out)`` creates ``out/.easyfirst.lock`` exclusively and complete (written aside,
then hard-linked into place: atomic on local file systems) and removes it on exit. A second
run into the same folder is refused with one line naming the owner. A lock whose owner is
gone (same host, pid not running: a killed run) is stale: it is named in a warning and taken
over, so a killed run can be resumed at once. A lock from another host cannot be checked and
is never taken over. Under the lock, the temp files of writes that a kill interrupted
(``atomic.PARTIAL``) are removed: in the folder itself and in the subfolders its manifest
names, nowhere else.

The manifest, ``out/.easyfirst.outputs.json`` (``MANIFEST``), lists the top-level names a run
owns in its folder (``{"format": "easyfirst.outputs", "kind": ..., "outputs": [...]}``):
``--overwrite`` deletes those and nothing else, and ``export``/``report`` refuse to write
inside them (``run_folder``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from easyfirst.atomic import PARTIAL, atomic_write_text, remove_partial_writes
from easyfirst.errors import EasyfirstError, InputError

LOCK = ".easyfirst.lock"
MANIFEST = ".easyfirst.outputs.json"
MANIFEST_FORMAT = "easyfirst.outputs"


def read_manifest(folder: str | os.PathLike[str]) -> list[str] | None:
    """The top-level names the run in ``folder`` owns (its manifest), or None without one;
    a manifest that is not one (edited, garbage) is refused in one line."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = data["outputs"] if data.get("format") == MANIFEST_FORMAT else None
    except (ValueError, TypeError, KeyError, AttributeError):
        names = None
    if not isinstance(names, list) or not all(_plain(n) for n in names):
        raise InputError(f"Expected {str(path)!r} to list the run's own outputs (top-level "
                         "names); it does not. Restore it, or delete it (then --overwrite "
                         "deletes only the files easyfirst names by the run's kind).")
    return names


def _plain(name: object) -> bool:
    """A top-level name in the folder other than the lock and the manifest."""
    return isinstance(name, str) and name not in ("", ".", "..", LOCK, MANIFEST) and not any(
        sep in name for sep in ("/", "\\", "\0"))


def write_manifest(folder: str | os.PathLike[str], kind: str, names: list[str]) -> None:
    """Record ``names`` (top-level, sorted) as the outputs the ``kind`` run in ``folder`` owns."""
    atomic_write_text(Path(folder) / MANIFEST, json.dumps(
        {"format": MANIFEST_FORMAT, "kind": kind, "outputs": sorted(set(names))}, indent=1))


class FolderLockedError(EasyfirstError, RuntimeError):
    """Another run owns the output folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _owner(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # being written, or garbage: treated as held


def _describe(owner: dict[str, Any]) -> str:
    return (f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}, started "
            f"{owner.get('started', '?')}: {owner.get('command', '?')}")


def _create(path: Path, me: dict[str, Any]) -> None:
    """Create ``path`` holding ``me``, or raise FileExistsError. The lock appears complete:
    it is written under a private name and hard-linked into place (atomic, refuses an existing
    target), so a rival never reads it half-written; without hard links, ``O_EXCL``. A temp
    file a kill left behind is a partial write, removed under the next lock."""
    text = json.dumps(me).encode("utf-8")
    tmp = path.with_name(f"{path.name}.{me['pid']}.{time.monotonic_ns()}{PARTIAL}")
    tmp.write_bytes(text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
    finally:
        tmp.unlink(missing_ok=True)


def _acquire(path: Path, me: dict[str, Any]) -> None:
    for _ in range(3):
        try:
            _create(path, me)
        except FileExistsError:
            owner = _owner(path)
            for _ in range(10):  # O_EXCL fallback: the owner may be writing it right now
                if owner:
                    break
                time.sleep(0.05)
                owner = _owner(path)
            stale = (owner.get("host") == me["host"] and isinstance(owner.get("pid"), int)
                     and not _alive(owner["pid"]))
            if not stale:
                raise FolderLockedError(
                    f"{str(path.parent)!r} is in use by another easyfirst run "
                    f"({_describe(owner)}); expected a folder no other run writes to. Wait for "
                    f"it, or choose another --out folder; if that run is gone, delete {path}."
                ) from None
            print(f"easyfirst: warning: taking over the stale lock {path} ({_describe(owner)}; "
                  "that process is gone).", file=sys.stderr)
            with contextlib.suppress(FileNotFoundError):
                if _owner(path) == owner:  # not replaced meanwhile by a live run
                    path.unlink()
            continue
        return
    raise FolderLockedError(f"Could not lock {str(path.parent)!r}: its lock {path} keeps "
                            "changing; another run is starting there. Choose another --out.")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], *, enabled: bool = True) -> Iterator[None]:
    """Hold ``folder``'s lock for the ``with`` block (``enabled=False``: a no-op, e.g. on
    the ranks of a distributed run that do not write). A folder this call created and that
    is empty at the end is removed again, so a refused run leaves nothing behind."""
    out = Path(folder)
    if not enabled:
        yield
        return
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"Expected --out to be a folder; got the file {str(out)!r}. "
                                 "Choose a folder path.")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
    try:
        _acquire(path, me)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty: another run may be in it now
        raise
    try:
        remove_partial_writes(out, read_manifest(out) or ())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _owner(path) == me:
                path.unlink()
        if created and not any(out.iterdir()):
            out.rmdir()
