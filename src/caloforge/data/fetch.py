"""Checked, resumable, atomic downloads over HTTP(S) (standard library only).

:func:`download` writes ``DEST.part`` while it streams, hashing as it goes; a ``.part`` left by
an interrupted download is resumed with an HTTP ``Range`` request (restarted from zero when the
server ignores ranges). Only when the whole file's MD5 equals the expected one is ``.part``
renamed to ``DEST`` (atomic on one file system); on a mismatch the ``.part`` is deleted and a
ValueError names the file and both checksums, so no wrong file is ever left under ``DEST``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = ["DownloadInterrupted", "download", "file_md5"]

CHUNK_BYTES = 1 << 20
#: progress callback: (bytes done, total bytes or None when the server does not say)
Progress = Callable[[int, int | None], None]


class DownloadInterrupted(OSError):
    """The connection ended before the whole file arrived; calling again resumes it."""


def file_md5(path: str | Path, *, chunk: int = CHUNK_BYTES) -> str:
    """Hex MD5 of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _hash_existing(part: Path) -> tuple[hashlib._Hash, int]:
    h = hashlib.md5(usedforsecurity=False)
    done = 0
    if part.exists():
        with open(part, "rb") as f:
            while block := f.read(CHUNK_BYTES):
                h.update(block)
                done += len(block)
    return h, done


def download(
    url: str,
    dest: str | Path,
    md5: str,
    *,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` unless ``dest`` already has MD5 ``md5``; returns ``dest``."""
    dest = Path(dest)
    if dest.exists():
        if file_md5(dest) == md5:
            return dest
        msg = f"{dest}: exists with another checksum than {md5}; move it away to download again"
        raise ValueError(msg)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h, done = _hash_existing(part)
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not done:  # 416: nothing left after `done` bytes
            msg = f"{url}: HTTP {exc.code} {exc.reason}"
            raise ValueError(msg) from None
        return _finish(part, dest, md5, h.hexdigest())
    except (urllib.error.URLError, TimeoutError) as exc:
        msg = f"{url}: cannot connect ({exc})"
        raise DownloadInterrupted(msg) from None
    with response:
        if done and response.status != 206:  # the server sent the whole file again
            h, done = hashlib.md5(usedforsecurity=False), 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        with open(part, "ab" if done else "wb") as f:
            try:
                while block := response.read(CHUNK_BYTES):
                    f.write(block)
                    h.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
            except (OSError, http.client.HTTPException) as exc:
                msg = f"{url}: connection lost after {done} bytes ({exc}); run again to resume"
                raise DownloadInterrupted(msg) from None
    if total is not None and done < total:
        msg = f"{url}: connection closed after {done} of {total} bytes; run again to resume"
        raise DownloadInterrupted(msg)
    return _finish(part, dest, md5, h.hexdigest())


def _finish(part: Path, dest: Path, expected: str, got: str) -> Path:
    if got != expected:
        part.unlink(missing_ok=True)
        msg = f"{dest.name}: checksum mismatch (MD5 expected {expected}, got {got}); the download was removed"
        raise ValueError(msg)
    os.replace(part, dest)
    return dest
