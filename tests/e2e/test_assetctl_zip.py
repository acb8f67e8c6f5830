"""
test_assetctl_zip.py - assetctl upload / status / download against the
shared assetd, and the ZIP round trip: upload a bundle, download the asset,
change asset_id in its asset.json, upload that zip -> the same files (same
SHA-256) and the same metadata apart from ids and URLs. Downloads resume a
partial file with Range + If-Range and start over when the asset changed.
"""

import hashlib
import io
import json
import re
import subprocess
import zipfile
from urllib.parse import quote

import pytest

from conftest import sanitizer_env
from e2e_helpers import make_asset, ok, sanitizer_report, uniq
from zip_fixtures import check_zip_tools


@pytest.fixture
def ctl(server, assetctl_bin, tmp_path):
    def run(*args, timeout=120):
        argv = [str(assetctl_bin), "--server", server.base] + [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                           env=sanitizer_env())
        report = sanitizer_report(p.stderr)
        assert not report, f"assetctl sanitizer report:\n{report}"
        return p.returncode, p.stdout, p.stderr
    return run


def bundle(path, asset, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("asset.json", json.dumps(asset))
        for name, data in files.items():
            z.writestr(name, data)
    return path


FILES = {"model/weights.bin": bytes(range(256)) * 3000, "README.md": b"# hello\n",
         "data/\u00e9t\u00e9.csv": b"a,b\n1,2\n"}


def upload_wait(ctl, path):
    rc, out, errout = ctl("upload", path, "--wait")
    assert rc == 0, errout
    st = json.loads(out)
    assert st["status"] == "success", st
    return st


def strip_ids(doc):
    """The asset without anything that names the asset or the upload."""
    if isinstance(doc, dict):
        return {k: strip_ids(v) for k, v in doc.items() if k not in ("asset_id", "asset_file_url")}
    if isinstance(doc, list):
        return [strip_ids(v) for v in doc]
    return doc


def set_ids(doc, new_id):
    if isinstance(doc, dict):
        return {k: (new_id if k == "asset_id" else set_ids(v, new_id)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [set_ids(v, new_id) for v in doc]
    return doc


def test_upload_status_download_round_trip(ctl, api, tmp_path):
    aid = uniq("rt")
    st = upload_wait(ctl, bundle(tmp_path / "b.zip", make_asset(aid), FILES))
    assert st["asset_id"] == aid
    rc, out, errout = ctl("status", st["upload_id"])
    assert rc == 0, errout
    assert json.loads(out)["status"] == "success"

    rc, out, errout = ctl("download", aid, "-o", "dl.zip")
    assert rc == 0, errout
    assert out.strip() == "dl.zip"
    dl = tmp_path / "dl.zip"
    check_zip_tools(dl)
    z = zipfile.ZipFile(dl)
    assert sorted(z.namelist()) == sorted(["asset.json"] + list(FILES))
    for name, data in FILES.items():
        assert z.read(name) == data
    first = json.loads(z.read("asset.json"))
    assert first == ok(api.get_asset(aid))

    # the round trip: same zip under another asset_id
    aid2 = uniq("rt2")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out_zip:
        for info in z.infolist():
            data = z.read(info.filename)
            if info.filename == "asset.json":
                data = json.dumps(set_ids(first, aid2)).encode()
            out_zip.writestr(info.filename, data)
    (tmp_path / "again.zip").write_bytes(buf.getvalue())
    upload_wait(ctl, tmp_path / "again.zip")
    second = ok(api.get_asset(aid2))
    assert strip_ids(second) == strip_ids(first)
    for f1, f2 in zip(first["files"], second["files"]):
        assert f1["asset_file_metadata"]["sha256"] == f2["asset_file_metadata"]["sha256"]
        assert f1["asset_file_url"] != f2["asset_file_url"]
    z2 = zipfile.ZipFile(io.BytesIO(api.get("/zip/download/" + quote(aid2, safe="")).content))
    for name, data in FILES.items():
        assert hashlib.sha256(z2.read(name)).digest() == hashlib.sha256(data).digest()


def test_upload_failure_exits_nonzero_with_reason(ctl, tmp_path):
    p = tmp_path / "noasset.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("only.txt", b"x")
    rc, out, errout = ctl("upload", p, "--wait")
    assert rc == 1
    assert "failed" in errout and "asset.json" in errout
    rc, out, errout = ctl("upload", tmp_path / "missing.zip")
    assert rc == 1 and "missing.zip" in errout


def test_download_resumes_with_range(ctl, server, api, tmp_path):
    aid = uniq("res")
    upload_wait(ctl, bundle(tmp_path / "b.zip", make_asset(aid), FILES))
    full = api.get("/zip/download/" + quote(aid, safe=""))
    (tmp_path / "out.zip.part").write_bytes(full.content[:5000])
    (tmp_path / "out.zip.part.etag").write_text(full.headers["ETag"])
    before = server.log().count("status=206")
    rc, out, errout = ctl("download", aid, "-o", "out.zip")
    assert rc == 0, errout
    assert (tmp_path / "out.zip").read_bytes() == full.content
    assert not (tmp_path / "out.zip.part").exists()
    assert not (tmp_path / "out.zip.part.etag").exists()
    assert server.log().count("status=206") > before

    # a partial file of an older version of the asset: start over
    (tmp_path / "out.zip.part").write_bytes(b"garbage" * 1000)
    (tmp_path / "out.zip.part.etag").write_text('"z1-old"')
    rc, out, errout = ctl("download", aid, "-o", "out.zip")
    assert rc == 0, errout
    assert (tmp_path / "out.zip").read_bytes() == full.content


def test_download_errors_and_progress(ctl, api, tmp_path):
    rc, out, errout = ctl("download", uniq("none"))
    assert rc == 1 and "not found" in errout
    assert not list(tmp_path.glob("*.part"))
    aid = uniq("prog")
    api.create(make_asset(aid))
    rc, out, errout = ctl("download", aid, "--progress")
    assert rc == 0, errout
    assert re.search(r"download \[#+\] 100%", errout), errout
    assert (tmp_path / f"{aid}.zip").exists()
    rc, out, errout = ctl("download", aid)
    assert rc == 0 and "download [" not in errout  # no TTY, no --progress: quiet
