"""The one way to write an output: files and folders appear complete or not at all.

    with atomic_path(run_dir / "charts" / "prices.png") as tmp:   # any writer that takes a path
        fig.savefig(tmp)
    atomic_write_bytes(path, data); atomic_write_text(path, text)
    with partial_dir(parent / run_id) as tmp_dir: ...             # a whole folder, renamed at the end

A file is written under a hidden temporary name in its own folder (`.NAME.PID.RANDOM.tmp`)
and renamed over its final name only when complete. A folder is built as `.NAME.partial`
holding `.owner`, a file locked (flock) by the writing process for as long as it lives:
`remove_stale(folder)` deletes partial folders whose owner lock is free (the owner died,
even by SIGKILL) and temporary files whose process is gone. Readers ignore names starting
with a dot. Every file gets the permissions of an ordinary new file (0666 minus the umask,
usually 0644), whatever the temporary file had.

An OSError raised while writing (a full disk, a read-only folder) is raised again with the
final path named in it, so the user learns which file could not be written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

STALE_UNOWNED_S = 600.0  # a partial folder without an owner file older than this is abandoned


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (then put it back)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of an ordinary new file: 0666 minus the process's umask (0644 under umask 022)."""
    return 0o666 & ~_umask()


def named_error(e: OSError, path: str | os.PathLike) -> OSError:
    """`e` with `path` as its filename (and a strerror), so the message names the file.

    Errors from pyarrow carry no file name and sometimes no errno ("No space left on device"
    only in the text): those get ENOSPC."""
    if e.filename:
        return e
    code = e.errno or (errno.ENOSPC if "no space left" in str(e).lower() else None)
    out = OSError(code, os.strerror(code) if code else (e.strerror or str(e)), str(path))
    out.__cause__ = e
    return out


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an OSError of the block (a full disk, ...) as one naming `path`."""
    try:
        yield
    except OSError as e:
        raise named_error(e, path) from e


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; when the block ends without error it becomes `path`.

    The folder is created if needed. On any error (or Ctrl-C) the temporary file is removed,
    `path` keeps its old content, and an OSError is re-raised naming `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(errno.ENOENT, "the writer wrote nothing", str(path))
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise named_error(e, path) from e
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (see atomic_path); return the path."""
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` as UTF-8 to `path` atomically (see atomic_path); return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------- folders ------------
def _lock(path: Path) -> int:
    """Open `path` (created) and take an exclusive flock without waiting; return the fd.

    Raises BlockingIOError when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def lock_holder(path: Path) -> str:
    """The pid written in a lock file (as text), or "another process" if unreadable."""
    try:
        return "pid " + (path.read_text().split() or ["?"])[0]
    except OSError:
        return "another process"


@contextlib.contextmanager
def folder_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold `folder/.lock` for the block; another holder -> FolderBusy naming its pid."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    try:
        fd = _lock(path)
    except BlockingIOError:
        raise FolderBusy(f"{folder} is in use by {lock_holder(path)} ({what}); wait for it to finish "
                         "or choose another --out") from None
    try:
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a new holder)


class FolderBusy(RuntimeError):
    """Another living process holds the lock of an output folder."""


@contextlib.contextmanager
def partial_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Build a folder as hidden `.NAME.partial` and rename it to `final` when the block succeeds.

    On any error or Ctrl-C the partial folder is removed and the error re-raised (an
    OSError naming the file it was about). A process killed outright leaves the partial
    folder with a free owner lock: `remove_stale` deletes it at the next run.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial")
    partial.mkdir()
    fd = None
    try:
        fd = _lock(partial / ".owner")
        yield partial
        os.close(fd)
        fd = None
        (partial / ".owner").unlink()
        os.replace(partial, final)
    except BaseException:
        if fd is not None:
            os.close(fd)
        shutil.rmtree(partial, ignore_errors=True)
        raise


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_dir(d: Path) -> bool:
    owner = d / ".owner"
    try:
        fd = os.open(owner, os.O_RDWR)
    except FileNotFoundError:  # being created right now, or written by an older version
        try:
            return time.time() - d.stat().st_mtime > STALE_UNOWNED_S
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True  # nobody holds it: the owner is gone
    except OSError:
        return False
    finally:
        os.close(fd)


def _stale_file(name: str) -> bool:
    parts = name.split(".")  # "", NAME..., PID, RANDOM, "tmp"
    try:
        return len(parts) >= 5 and not pid_alive(int(parts[-3]))
    except ValueError:
        return False


def remove_stale(folder: str | os.PathLike) -> list[Path]:
    """Delete partial folders and temporary files left in `folder` by processes that died.

    Returns what was removed. Anything a living process is writing is left alone.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        p = Path(e.path)
        if not e.name.startswith("."):
            continue
        if e.name.endswith(".partial") and e.is_dir(follow_symlinks=False) and _stale_dir(p):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
        elif e.name.endswith(".tmp") and e.is_file(follow_symlinks=False) and _stale_file(e.name):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed
