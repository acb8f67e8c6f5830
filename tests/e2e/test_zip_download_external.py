"""
test_zip_download_external.py - files whose asset_file_url points outside
the registry's store: with --fetch-external on they are fetched over HTTP
(HEAD for the size, one full read for a CRC the metadata lacks, ranged GETs
while sending) into the zip; when the source is gone the download fails
with 502 before any byte; with the default (off) it is refused with 502.
The remote is a small Range-capable HTTP server in this process.
"""

import http.server
import io
import re
import threading
import zipfile

import pytest

from e2e_helpers import err, make_asset
from zip_fixtures import check_zip_tools, file_meta

REMOTE = {"/w.bin": bytes(range(256)) * 2000, "/small.txt": b"remote text\n"}


class RangeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, body_wanted):
        data = REMOTE.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m:
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else len(data) - 1
            if a >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            b = min(b, len(data) - 1)
            part = data[a:b + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
        else:
            part = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if body_wanted:
            self.wfile.write(part)

    def do_GET(self):
        self._send(True)

    def do_HEAD(self):
        self._send(False)


@pytest.fixture
def remote():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def external_asset(remote, crc=True):
    files = []
    for path, data in REMOTE.items():
        files.append({"asset_file_id": "remote" + path, "asset_file_type": "binary",
                      "asset_file_mime_type": "application/octet-stream",
                      "asset_file_url": remote + path,
                      "asset_file_metadata": file_meta(data, crc=crc)})
    return make_asset(files=files, asset_file_ids=[f["asset_file_id"] for f in files])


@pytest.mark.parametrize("crc", [True, False])
def test_fetch_external_on(assetd_factory, remote, tmp_path, crc):
    inst = assetd_factory(args=["--fetch-external", "on"])
    api = inst.client()
    a = external_asset(remote, crc)
    api.create(a)
    r = api.get("/zip/download/" + a["asset_id"])
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    for path, data in REMOTE.items():
        assert z.read("remote" + path) == data
    p = tmp_path / "ext.zip"
    p.write_bytes(r.content)
    check_zip_tools(p)
    r2 = api.get("/zip/download/" + a["asset_id"], headers={"Range": "bytes=300-"})
    assert r2.status_code == 206 and r2.content == r.content[300:]

    # the source disappears: refused before the first byte
    gone = make_asset(files=[dict(a["files"][0], asset_file_url=remote + "/missing.bin")],
                      asset_file_ids=[a["files"][0]["asset_file_id"]])
    api.create(gone)
    msg = err(api.get("/zip/download/" + gone["asset_id"]), 502, "file_unavailable")
    assert "404" in msg and "missing.bin" in msg
    api.close()


def test_fetch_external_off_by_default(server, api, remote):
    a = external_asset(remote)
    api.create(a)
    msg = err(api.get("/zip/download/" + a["asset_id"]), 502, "file_unavailable")
    assert "--fetch-external" in msg
