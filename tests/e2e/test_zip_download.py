"""
test_zip_download.py - GET /zip/download/<asset_id>: the archive holds
asset.json (the stored text) and every file; exact Content-Length;
deterministic bytes and ETag; Range/If-Range (206, 416), HEAD;
Content-Disposition; every source checked before the response starts
(502 for a missing blob or a URL outside the store); the four zip readers
accept it; deleting an asset removes its stored files.

Files are put into the blob store directly (see zip_fixtures.py), so these
tests do not depend on the upload route.
"""

import io
import zipfile
from urllib.parse import quote

from e2e_helpers import err, make_asset, uniq
from zip_fixtures import (blob_path, check_zip_tools, file_url, put_blob, stored_asset,
                          stored_text)

FILES = [
    ("weights.bin", bytes(range(256)) * 4000),
    ("config/params.json", b'{"lr": 0.1}\n'),
    ("empty.txt", b""),
    ("docs/r\u00e9sum\u00e9 #1.txt", "caf\u00e9\n".encode(), {"crc": False}),
    ("nosize.dat", b"x" * 1000, {"crc": False, "size": False}),
]


def download(api, asset_id, **kw):
    return api.get("/zip/download/" + quote(asset_id, safe=""), **kw)


def test_download_contents_and_tools(server, api, tmp_path):
    a, _ = stored_asset(server, api, FILES)
    r = download(api, a["asset_id"])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{a["asset_id"]}.zip"'
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"].startswith('"')
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = z.namelist()
    assert names == ["asset.json"] + [f[0] for f in FILES]
    assert z.read("asset.json") == stored_text(api, a["asset_id"])
    for f in FILES:
        assert z.read(f[0]) == f[1], f[0]
    for info in z.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert not info.flag_bits & 0x08, "no data descriptors"
    p = tmp_path / "a.zip"
    p.write_bytes(r.content)
    check_zip_tools(p)


def test_deterministic_and_etag_follows_changes(server, api):
    a, _ = stored_asset(server, api, FILES[:2])
    r1, r2 = download(api, a["asset_id"]), download(api, a["asset_id"])
    assert r1.content == r2.content
    assert r1.headers["ETag"] == r2.headers["ETag"]
    r = api.put("/assets/" + quote(a["asset_id"], safe=""), json={"asset_version": "v2"})
    assert r.status_code == 200, r.text
    r3 = download(api, a["asset_id"])
    assert r3.headers["ETag"] != r1.headers["ETag"]
    assert zipfile.ZipFile(io.BytesIO(r3.content)).read("weights.bin") == FILES[0][1]


def test_range_if_range_head(server, api):
    a, _ = stored_asset(server, api, FILES)
    full = download(api, a["asset_id"])
    total, etag = len(full.content), full.headers["ETag"]

    r = download(api, a["asset_id"], headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206
    assert r.content == full.content[100:1100]
    assert r.headers["Content-Range"] == f"bytes 100-1099/{total}"
    assert r.headers["ETag"] == etag

    # resume: the rest from an offset, guarded by If-Range
    r = download(api, a["asset_id"], headers={"Range": "bytes=5000-", "If-Range": etag})
    assert r.status_code == 206 and r.content == full.content[5000:]
    r = download(api, a["asset_id"], headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == full.content[-10:]
    # a stale validator gets the whole archive
    r = download(api, a["asset_id"], headers={"Range": "bytes=5000-", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == full.content
    # several ranges: served whole
    r = download(api, a["asset_id"], headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == full.content

    r = download(api, a["asset_id"], headers={"Range": f"bytes={total}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{total}"

    r = api.request("HEAD", "/zip/download/" + quote(a["asset_id"], safe=""))
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == total and r.headers["ETag"] == etag


def test_every_range_split_matches(server, api):
    a, _ = stored_asset(server, api, FILES)
    full = download(api, a["asset_id"]).content
    step = len(full) // 7 + 1
    parts = b""
    for off in range(0, len(full), step):
        r = download(api, a["asset_id"], headers={"Range": f"bytes={off}-{off + step - 1}"})
        assert r.status_code == 206
        parts += r.content
    assert parts == full


def test_missing_asset_404(api):
    err(download(api, uniq("nope")), 404, "not_found")


def test_missing_blob_fails_before_response(server, api):
    a, keys = stored_asset(server, api, FILES[:2])
    blob_path(server, keys[1]).unlink()
    msg = err(download(api, a["asset_id"]), 502, "file_unavailable")
    assert "config/params.json" in msg


def test_size_mismatch_fails_before_response(server, api):
    a, keys = stored_asset(server, api, FILES[:1])
    put_blob(server, keys[0], b"short")
    msg = err(download(api, a["asset_id"]), 502, "file_unavailable")
    assert "weights.bin" in msg


def test_external_url_refused(server, api):
    f = {"asset_file_id": "remote.bin", "asset_file_type": "binary",
         "asset_file_mime_type": "application/octet-stream",
         "asset_file_url": "https://example.com/remote.bin", "asset_file_metadata": {}}
    a = make_asset(files=[f], asset_file_ids=["remote.bin"])
    api.create(a)
    msg = err(download(api, a["asset_id"]), 502, "file_unavailable")
    assert "outside" in msg and "remote.bin" in msg


def test_non_ascii_id_disposition(server, api):
    aid = uniq("mod\u00e8le \"q\"")
    a, _ = stored_asset(server, api, FILES[1:2], asset_id=aid)
    r = download(api, aid)
    assert r.status_code == 200
    cd = r.headers["Content-Disposition"].encode("latin-1").decode("utf-8")
    assert cd.startswith('attachment; filename="mod__le \\"q\\"-')
    assert "filename*=UTF-8''mod%C3%A8le%20%22q%22-" in cd


def test_empty_asset(server, api, tmp_path):
    a = make_asset()
    api.create(a)
    r = download(api, a["asset_id"])
    assert r.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(r.content)).namelist() == ["asset.json"]
    p = tmp_path / "e.zip"
    p.write_bytes(r.content)
    check_zip_tools(p)


def test_delete_removes_stored_files(server, api):
    a, keys = stored_asset(server, api, FILES[:2])
    other = put_blob(server, uniq("keep") + "/x.bin", b"not referenced")
    for k in keys:
        assert blob_path(server, k).exists()
    r = api.delete("/assets/" + quote(a["asset_id"], safe=""))
    assert r.status_code in (200, 204), r.text
    for k in keys:
        assert not blob_path(server, k).exists(), k
        assert api.get("/files/" + k).status_code == 404
    assert other.exists()


def test_delete_keeps_external_files(server, api):
    key = uniq("ext") + "/file.bin"
    p = put_blob(server, key, b"data")
    f = {"asset_file_id": "file.bin", "asset_file_type": "binary",
         "asset_file_mime_type": "application/octet-stream",
         # same path, another host: not a file this registry stored
         "asset_file_url": file_url(server, key).replace("127.0.0.1", "localhost"),
         "asset_file_metadata": {}}
    a = make_asset(files=[f], asset_file_ids=["file.bin"])
    api.create(a)
    assert api.delete("/assets/" + quote(a["asset_id"], safe="")).status_code in (200, 204)
    assert p.exists()


def test_unzippable_names_conflict(server, api):
    """File ids that cannot be zip entry names are refused before any byte."""
    for bad in (["asset.json"], ["../escape.txt"], ["same.txt", "same.txt"], ["a", "a/b"]):
        upload_id = uniq("up")
        files = []
        for i, name in enumerate(bad):
            key = f"{upload_id}/f{i}"
            put_blob(server, key, b"x")
            files.append({"asset_file_id": name, "asset_file_type": "binary",
                          "asset_file_mime_type": "text/plain",
                          "asset_file_url": file_url(server, key), "asset_file_metadata": {}})
        a = make_asset(files=files, asset_file_ids=bad)
        api.create(a)
        err(download(api, a["asset_id"]), 409, "conflict")
