"""Output safety: non-regular targets, overwrite, one writer per path, no partial files left."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from caloforge.geometry import get_geometry
from caloforge.io import (
    OutputBusyError,
    ShowerWriter,
    StaleTemporaryWarning,
    atomic_path,
    atomic_write_text,
    check_output_path,
    lock_output,
    read_showers,
    write_showers,
)
from caloforge.showerset import ShowerSet

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _showers(n: int = 3) -> ShowerSet:
    geo = get_geometry("calogan")
    cells = np.random.default_rng(0).random((n, geo.n_cells), dtype=np.float32)
    return ShowerSet(np.full(n, 1000.0), cells, geo, "photon")


def _special_files(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, a socket, a folder and a symlink made in the test's own folder (and a character
    device when the test runs as root)."""
    made = {}
    fifo = tmp_path / "p.h5"
    os.mkfifo(fifo)
    made["FIFO"] = fifo
    sock_path = tmp_path / "s.h5"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()
    made["socket"] = sock_path
    folder = tmp_path / "d.h5"
    folder.mkdir()
    made["folder"] = folder
    real = tmp_path / "real.h5"
    real.write_text("keep me")
    link = tmp_path / "l.h5"
    link.symlink_to(real)
    made["symbolic link"] = link
    if os.geteuid() == 0:
        dev = tmp_path / "nd"
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        made["character device"] = dev
    return made


def test_never_writes_over_or_through_special_files(tmp_path: Path) -> None:
    made = _special_files(tmp_path)
    for what, path in made.items():
        mode = os.lstat(path).st_mode
        for overwrite in (True, False):
            with pytest.raises(ValueError, match=what) as info:
                write_showers(path, _showers(), overwrite=overwrite)
            assert str(path) in str(info.value)
            assert "\n" not in str(info.value)
            with pytest.raises(ValueError, match=what):
                atomic_write_text(path, "x", overwrite=overwrite)
        assert os.lstat(path).st_mode == mode, f"{what} was replaced"
    assert (tmp_path / "real.h5").read_text() == "keep me"
    assert not list(tmp_path.glob(".*.tmp"))
    assert not list(tmp_path.glob(".*.lock"))


def test_folder_check_refuses_files_links_and_existing(tmp_path: Path) -> None:
    f = tmp_path / "model"
    f.write_text("x")
    with pytest.raises(ValueError, match="is a regular file, not a folder"):
        check_output_path(f, overwrite=True, kind="folder")
    d = tmp_path / "m2"
    d.mkdir()
    with pytest.raises(ValueError, match="already exists; pass --overwrite"):
        check_output_path(d, overwrite=False, kind="folder")
    assert check_output_path(d, overwrite=True, kind="folder") == d
    (tmp_path / "m3").symlink_to(d)
    with pytest.raises(ValueError, match="symbolic link"):
        check_output_path(tmp_path / "m3", overwrite=True, kind="folder")
    with pytest.raises(ValueError, match="does not exist"):
        check_output_path(tmp_path / "no" / "x.h5", overwrite=True)
    assert check_output_path(tmp_path / "new.h5", overwrite=False) == tmp_path / "new.h5"


def test_existing_output_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    out.write_text("precious")
    with pytest.raises(ValueError, match=r"already exists; pass --overwrite"):
        write_showers(out, _showers(), overwrite=False)
    with pytest.raises(ValueError, match="already exists"):
        ShowerWriter(out, get_geometry("calogan"), overwrite=False)
    assert out.read_text() == "precious"
    write_showers(out, _showers(4), overwrite=True)
    assert len(read_showers(out)) == 4


def test_second_writer_fails_fast(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    with atomic_path(out) as tmp:
        tmp.write_text("first")
        start = time.monotonic()
        with pytest.raises(OutputBusyError, match="another writer"), atomic_path(out):
            pass
        with pytest.raises(OutputBusyError):
            write_showers(out, _showers())
        assert time.monotonic() - start < 5
    assert out.read_text() == "first"
    assert not (tmp_path / ".out.h5.lock").exists()
    with lock_output(out):  # released: can be taken again
        pass


def _writer_script(target: Path, how: str) -> str:
    return textwrap.dedent(
        f"""
        import signal, sys, time
        from caloforge.io import atomic_path, lock_output
        target = {str(target)!r}
        if {how!r} == "chain":
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(3))
        if {how!r} == "lock":
            with lock_output(target):
                print("ready", flush=True)
                time.sleep(60)
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial" * 1000)
            print("ready", flush=True)
            time.sleep(60)
        """
    )


def _start(target: Path, how: str = "write") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _writer_script(target, how)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": SRC},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_other_process_holding_the_lock_fails_fast(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    proc = _start(out, "lock")
    try:
        with pytest.raises(OutputBusyError, match=str(out)):
            write_showers(out, _showers())
    finally:
        _stop(proc)
    assert not out.exists()
    write_showers(out, _showers())  # the dead process's lock is gone with it
    assert len(read_showers(out)) == 3


def test_sigterm_removes_the_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    proc = _start(out)
    assert len(list(tmp_path.glob(".out.h5.*.tmp"))) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    _stop(proc)
    assert not list(tmp_path.glob(".out.h5.*.tmp"))
    assert not (tmp_path / ".out.h5.lock").exists()
    assert not out.exists()


def test_sigterm_runs_the_previous_handler_after_cleaning(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    proc = _start(out, "chain")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 3  # the program's own handler still ran
    _stop(proc)
    assert not list(tmp_path.glob(".out.h5.*"))
    assert not out.exists()


def test_sigkill_leftover_is_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    proc = _start(out)
    _stop(proc)
    left = list(tmp_path.glob(".out.h5.*.tmp"))
    assert len(left) == 1
    assert str(proc.pid) in left[0].name
    with pytest.warns(
        StaleTemporaryWarning, match=f"removed .*interrupted run \\(pid {proc.pid}\\)"
    ):
        write_showers(out, _showers())
    assert not left[0].exists()
    assert len(read_showers(out)) == 3


def test_temporary_of_a_live_process_is_reported_not_removed(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    alive = tmp_path / f".out.h5.{os.getppid()}.abcd1234.tmp"
    alive.write_text("someone else's")
    old = tmp_path / ".out.h5.zz9x_k2q.tmp"  # an older caloforge's name: no pid
    old.write_text("unknown writer")
    with pytest.warns(StaleTemporaryWarning) as record:
        atomic_write_text(out, "new")
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert f"process {os.getppid()} is still running" in messages[0]
    assert "writer is unknown" in messages[1]
    assert alive.exists()
    assert old.exists()
    assert out.read_text() == "new"


def test_signal_handler_installed_only_while_writing(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("a")
        assert signal.getsignal(signal.SIGTERM) is not before
        with atomic_path(tmp_path / "b.txt") as tmp2:
            tmp2.write_text("b")
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o644
