"""Private temporary folders that a crash cannot strand: backup and restore copy the whole gallery (biometric
data) into one while they work, and a killed process must not leave that copy behind.

Each scratch folder holds a lock its process keeps while it lives, and is listed in the data folder
(``<data folder>/scratch/``) while it exists. ``sweep()`` (run when a backup, a restore or a scan starts)
deletes every listed folder whose process has died, wherever it was made.

API::

    with scratch_dir(parent, ".facerec-backup-") as tmp:   # -> Path, owner-only, removed on exit
        ...
    sweep()                                                # -> int, stranded folders removed
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..config import data_dir, private_dir

log = logging.getLogger(__name__)

LOCK_NAME = ".facerec-lock"


def registry_dir() -> Path:
    """Where scratch folders are listed while they exist (one small file each, naming the folder)."""
    return data_dir() / "scratch"


@contextlib.contextmanager
def scratch_dir(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A new owner-only folder in ``parent`` (so what is made there can be renamed into place), removed when
    the block ends, and by ``sweep()`` if the process dies first."""
    sweep()
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o700)
    lock = os.open(folder / LOCK_NAME, os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    entry = private_dir(registry_dir()) / f"{folder.name}-{os.getpid()}"
    entry.write_bytes(os.fsencode(folder.resolve()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            entry.unlink()
        os.close(lock)


def sweep() -> int:
    """Delete the scratch folders of processes that died (their lock is free). Returns how many."""
    registry = registry_dir()
    if not registry.is_dir():
        return 0
    removed = 0
    for entry in registry.iterdir():
        try:
            folder = Path(os.fsdecode(entry.read_bytes()))
        except OSError:
            continue
        if folder.is_dir() and not _alive(folder):
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("removed %s, left behind by a backup or restore that was killed", folder)
            removed += 1
        if not folder.is_dir():
            with contextlib.suppress(OSError):
                entry.unlink()
    return removed


def _alive(folder: Path) -> bool:
    """Whether the process that made ``folder`` still holds its lock."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False  # no lock yet or any more: a process killed between making the folder and locking it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
