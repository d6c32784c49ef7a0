"""Atomic file writes: a temp file in the target folder, then ``os.replace``.

A crash or a bad input never leaves half a file, and never touches the previous version.
Temp files are named ``.<name>.<random>.easyfirst-partial`` (``PARTIAL``): easyfirst's own,
never a name a user's file has. A write killed before its rename leaves one behind, and
:func:`remove_partial_writes` (run by the next owner of the folder, see ``easyfirst.locks``)
removes those of that folder and of the run's own subfolders, nothing else.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

PARTIAL = ".easyfirst-partial"
LEGACY = (".partial", ".tmp")  # earlier versions' temp files: only in a run's own subfolders


def remove_partial_writes(folder: str | os.PathLike[str], owned: Iterable[str] = ()
                          ) -> list[Path]:
    """Delete the temp files of interrupted atomic writes in ``folder`` itself and anywhere
    under its subfolders named in ``owned`` (the run's own outputs); returns them. Never
    anything else: a user's ``.notes.tmp`` or a sibling run's folder stays. Call it only
    while no other writer is active (under the folder's lock)."""
    root = Path(folder)
    found = [p for p in root.glob(f".*{PARTIAL}") if p.is_file()]
    for name in owned:
        sub = root / name
        if sub.is_dir() and not sub.is_symlink():
            found += [p for suffix in (PARTIAL, *LEGACY) for p in sub.rglob(f".*{suffix}")
                      if p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, then move the result to ``path`` in one step."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=PARTIAL)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, p)
    except OSError as exc:
        cause = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        err = OSError(f"Could not write {str(p)!r}: {cause}; expected room and write permission "
                      "there. Free space or choose another folder (its previous version is "
                      "unchanged).")
        err.errno = exc.errno
        raise err from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


_TORCH_WRITE_FAILED = ("inline_container", "unexpected pos", "PytorchStreamWriter",
                       "file write failed")


def atomic_torch_save(obj: object, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` atomically. A write that fails inside PyTorch's zip writer (on a
    full disk it raises ``RuntimeError: [enforce fail at inline_container.cc:...] . unexpected
    pos ...``) becomes :func:`atomic_write`'s one-line ``OSError`` naming ``path``: disk full
    (or the write failed)."""
    import torch  # here: importing easyfirst.atomic should not load torch

    def write(tmp: Path) -> None:
        try:
            torch.save(obj, tmp)
        except RuntimeError as exc:
            if not any(s in str(exc) for s in _TORCH_WRITE_FAILED):
                raise
            raise OSError(errno.EIO, "disk full (or the write failed)") from exc

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_write(path, write)
