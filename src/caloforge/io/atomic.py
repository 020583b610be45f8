"""Safe outputs: checked paths, one writer per path, atomic renames, no leftovers.

Every file caloforge writes goes through :func:`atomic_path`:

- the output path is checked first (:func:`check_output_path`): a symbolic link, a device, a
  FIFO, a socket or a folder where a file is expected is never written to or renamed over, and an
  existing output is refused unless ``overwrite=True``;
- an exclusive, non-blocking lock (``fcntl.flock`` on a lock file ``.NAME.lock`` beside the
  output, removed afterwards) makes a second concurrent writer of the same path fail at once
  (:class:`OutputBusyError`) instead of racing it;
- data go to a temporary file ``.NAME.<pid>.<random>.tmp`` beside the output, renamed over it only
  when complete, so a reader never sees a partial file;
- the temporary file is removed on an exception, on SIGTERM and SIGHUP (a handler is installed
  while writing, in the main thread, and the previous one restored and re-raised afterwards);
  a run killed by SIGKILL leaves it behind, and the next write of the same path finds it:
  removed when the process named in it is dead, reported (:class:`StaleTemporaryWarning`) when it
  is alive or cannot be told.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import signal
import stat
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Literal

__all__ = [
    "OutputBusyError",
    "StaleTemporaryWarning",
    "atomic_path",
    "atomic_write_text",
    "check_output_path",
    "clean_stale_temporaries",
    "lock_output",
]

_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFREG: "a regular file",
}


class OutputBusyError(ValueError):
    """Another process (or another writer in this one) holds the output's lock."""


class StaleTemporaryWarning(UserWarning):
    """A temporary file of an earlier, interrupted write was found beside an output."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _describe(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_output_path(
    path: str | Path, *, overwrite: bool, kind: Literal["file", "folder"] = "file"
) -> Path:
    """Check that ``path`` may be written as a ``kind`` output; returns it as a Path.

    Raises ValueError (one line naming the path) when its folder is missing or not writable, when
    it is a symbolic link (never followed), when it exists as something other than a ``kind``
    (device, FIFO, socket, a folder for a file, a file for a folder), or when it exists and
    ``overwrite`` is False. Call it before any expensive work; writers call it again.
    """
    if kind not in ("file", "folder"):
        msg = f"check_output_path: kind must be 'file' or 'folder', got {kind!r}"
        raise ValueError(msg)
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        msg = f"{path}: cannot write, directory {parent} {why}"
        raise ValueError(msg)
    if not os.access(parent, os.W_OK):
        msg = f"{path}: cannot write, directory {parent} is not writable"
        raise ValueError(msg)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode):
        msg = f"{path}: is a symbolic link; caloforge does not write through links, give the real path"
        raise ValueError(msg)
    expected = stat.S_ISREG if kind == "file" else stat.S_ISDIR
    if not expected(st.st_mode):
        msg = f"{path}: is {_describe(st.st_mode)}, not a {kind}; refusing to replace it"
        raise ValueError(msg)
    if not overwrite:
        msg = f"{path}: already exists; pass --overwrite to replace it"
        raise ValueError(msg)
    return path


# ---- the lock ----------------------------------------------------------------------------------
def _lock_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def lock_output(target: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of output ``target`` (non-blocking); yields the lock file.

    A second holder, in this process or another, gets :class:`OutputBusyError` at once. The lock
    file is removed on release; a lock file left by a killed process is harmless (``flock`` locks
    die with their process) and is reused.
    """
    target = Path(target)
    lock = _lock_file(target)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666 & ~_umask())
        except OSError as exc:
            msg = f"{target}: cannot create lock file {lock}: {exc.strerror}"
            raise ValueError(msg) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                msg = (
                    f"{target}: another writer is writing it (lock {lock} is held); wait for it "
                    "to finish or choose another output"
                )
                raise OutputBusyError(msg) from None
            raise
        # the previous holder may have removed the lock file between our open and flock
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)


# ---- stale temporaries -------------------------------------------------------------------------
def _temporary_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(target.name)}\.(?:(\d+)\.)?[^.]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(target: str | Path) -> tuple[list[Path], list[Path]]:
    """Find temporary files an interrupted write of ``target`` left beside it.

    Those whose writing process (the pid in their name) is dead are removed; those of a live
    process, or without a pid (written by an older caloforge), are kept and reported with a
    :class:`StaleTemporaryWarning`. Returns ``(removed, kept)``. Call it holding the lock.
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    pattern = _temporary_pattern(target)
    removed: list[Path] = []
    kept: list[Path] = []
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return removed, kept
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        tmp = parent / name
        if not stat.S_ISREG(os.lstat(tmp).st_mode):
            continue
        pid = int(match.group(1)) if match.group(1) else None
        if pid is not None and pid != os.getpid() and not _pid_alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            warnings.warn(
                f"{target}: removed {tmp}, a partial file left by an interrupted run (pid {pid})",
                StaleTemporaryWarning,
                stacklevel=3,
            )
        elif pid != os.getpid():
            kept.append(tmp)
            owner = f"process {pid} is still running" if pid else "its writer is unknown"
            warnings.warn(
                f"{target}: found {tmp}, a partial file of another write ({owner}); "
                "remove it if no program is writing it",
                StaleTemporaryWarning,
                stacklevel=3,
            )
    return removed, kept


# ---- SIGTERM / SIGHUP cleanup ------------------------------------------------------------------
_CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_active: dict[int, tuple[Path, ...]] = {}  # id -> (temporary file being written, its lock file)
_active_lock = threading.Lock()
_previous: dict[int, Any] = {}


def _on_signal(signum: int, frame: FrameType | None) -> None:
    for paths in list(_active.values()):
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    # default action: restore it and die of the same signal (exit status -signum)
    for sig, handler in _previous.items():
        signal.signal(sig, handler)
    _previous.clear()
    os.kill(os.getpid(), signum)


def _register(key: int, *paths: Path) -> None:
    with _active_lock:
        if not _previous and threading.current_thread() is threading.main_thread():
            for sig in _CLEANUP_SIGNALS:
                current = signal.getsignal(sig)
                if current is signal.SIG_IGN or current is None or current is _on_signal:
                    continue
                _previous[sig] = current
                signal.signal(sig, _on_signal)
        _active[key] = paths


def _unregister(key: int) -> None:
    with _active_lock:
        _active.pop(key, None)
        if not _active and _previous and threading.current_thread() is threading.main_thread():
            for sig, handler in _previous.items():
                if signal.getsignal(sig) is _on_signal:
                    signal.signal(sig, handler)
            _previous.clear()


# ---- atomic writes -----------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(target: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on error (or
    SIGTERM/SIGHUP) it is removed, so a reader never sees a partial file.

    ``target`` is checked with :func:`check_output_path` (``overwrite`` refuses an existing
    file when False), locked with :func:`lock_output` for the whole write, and checked again
    just before the rename. Temporary files of earlier killed runs are cleaned
    (:func:`clean_stale_temporaries`).
    """
    target = check_output_path(target, overwrite=overwrite, kind="file")
    parent = target.parent if str(target.parent) else Path(".")
    with lock_output(target) as lock:
        clean_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=parent
        )
        os.close(fd)
        tmp_path = Path(tmp)
        key = id(tmp_path)
        _register(key, tmp_path, lock)
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; the usual permissions
            yield tmp_path
            # again: writers that replace the file (safetensors' save_file) recreate it as 0600
            os.chmod(tmp_path, 0o666 & ~_umask())
            check_output_path(target, overwrite=overwrite, kind="file")
            # writers that recreate the file (safetensors does) would leave mkstemp's 0600
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, target)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        finally:
            _unregister(key)


def atomic_write_text(target: str | Path, text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` to ``target`` through :func:`atomic_path`."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text)
