"""The dataset fetcher against a local HTTP server on 127.0.0.1 (no test reaches the internet)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from caloforge.data.calochallenge import CALOCHALLENGE, dataset_files
from caloforge.data.fetch import DownloadInterrupted, download, file_md5

PAYLOAD = bytes(range(256)) * 4000  # 1 024 000 bytes
MD5 = hashlib.md5(PAYLOAD, usedforsecurity=False).hexdigest()


class _Server:
    """Serves PAYLOAD with Range support; ``cut_after`` bytes ends the next response early."""

    def __init__(self) -> None:
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                state.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(PAYLOAD):
                    self.send_response(416)
                    self.end_headers()
                    return
                body = PAYLOAD[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if state.cut_after is not None:
                    self.wfile.write(body[: state.cut_after])
                    state.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file.hdf5"


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_download_verifies_and_reports_progress(server: _Server, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    out = download(server.url, tmp_path / "f.hdf5", MD5, progress=lambda d, t: seen.append((d, t)))
    assert out.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not (tmp_path / "f.hdf5.part").exists()
    # a second call finds the verified file and does not download again
    download(server.url, tmp_path / "f.hdf5", MD5)
    assert len(server.ranges) == 1


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(
    server: _Server, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"f.hdf5: checksum mismatch \(MD5 expected 0{32}, got "):
        download(server.url, tmp_path / "f.hdf5", "0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(server: _Server, tmp_path: Path) -> None:
    server.cut_after = 300_000
    with pytest.raises(DownloadInterrupted, match="run again to resume"):
        download(server.url, tmp_path / "f.hdf5", MD5)
    part = tmp_path / "f.hdf5.part"
    assert part.stat().st_size == 300_000
    assert not (tmp_path / "f.hdf5").exists()
    download(server.url, tmp_path / "f.hdf5", MD5)
    assert server.ranges == [None, "bytes=300000-"]
    assert file_md5(tmp_path / "f.hdf5") == MD5
    assert not part.exists()


def test_a_complete_part_file_is_finished_without_downloading(
    server: _Server, tmp_path: Path
) -> None:
    (tmp_path / "f.hdf5.part").write_bytes(PAYLOAD)
    download(server.url, tmp_path / "f.hdf5", MD5)
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert (tmp_path / "f.hdf5").read_bytes() == PAYLOAD


def test_known_datasets_name_zenodo_files_with_md5s() -> None:
    assert set(CALOCHALLENGE) == {
        "calochallenge-1-photons",
        "calochallenge-1-pions",
        "calochallenge-2",
        "calochallenge-3",
    }
    files = dataset_files("calochallenge-3")
    assert [f.name for f in files] == [f"dataset_3_{i}.hdf5" for i in range(1, 5)]
    for f in (x for v in CALOCHALLENGE.values() for x in v):
        assert f.url.startswith("https://zenodo.org/records/")
        assert f.url.split("?")[0].endswith(f.name)
        assert re.fullmatch("[0-9a-f]{32}", f.md5)
    with pytest.raises(ValueError, match="unknown dataset 'calochallenge-9'"):
        dataset_files("calochallenge-9")


def test_cli_fetch_reports_a_mismatch_in_one_line(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from caloforge.cli import app
    from caloforge.data import calochallenge

    fake = (calochallenge.RemoteFile("f.hdf5", server.url, "f" * 32),)
    monkeypatch.setitem(calochallenge.CALOCHALLENGE, "calochallenge-2", fake)
    result = CliRunner().invoke(
        app, ["data", "fetch", "calochallenge-2", "--dir", str(tmp_path), "--no-progress"]
    )
    assert result.exit_code == 2
    assert "checksum mismatch" in result.output
    assert list(tmp_path.iterdir()) == []
