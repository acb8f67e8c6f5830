"""
test_zip_upload.py - POST /zip/upload and GET /zip/status: the happy path
(files stored and served metadata per the contract), the requests refused
at once (415, 400, 413), status records (404, progress, timestamps,
expiry), atomicity (a failing job leaves no object) and jobs interrupted
by SIGTERM or kill -9 (resumed or failed after a restart, never stuck).
"""

import io
import json
import os
import re
import signal
import socket
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from e2e_helpers import uniq
from zip_upload_helpers import (asset_doc, big_stored_zip, start_and_catch_processing, crc32, sha256, upload, upload_and_wait, wait_done,
                                zip_bytes)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def stored_files(data_dir, upload_id):
    root = Path(data_dir) / "blobs" / "o" / upload_id
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def spool_files(data_dir):
    return sorted(os.listdir(Path(data_dir) / "spool"))


def spool_settles(data_dir, want, timeout=5.0):
    """The spool directory once it equals want (a refused request's file is
    removed when the server ends the request, just after the reply)."""
    deadline = time.monotonic() + timeout
    while spool_files(data_dir) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    return spool_files(data_dir)


# ---- the happy path ------------------------------------------------------

def test_upload_registers_asset_with_files(api, server):
    aid = uniq("zip")
    big = os.urandom(700_000)
    given = [{"asset_file_id": "docs/readme.md", "asset_file_type": "documentation",
              "asset_file_mime_type": "text/markdown", "asset_file_url": "ignored",
              "asset_file_metadata": {"lang": "en"}}]
    data = zip_bytes([("asset.json", asset_doc(aid, files=given)),
                      ("docs/readme.md", b"# hello\n"),
                      ("weights/model v1.bin", big),
                      ("config.json", b'{"a": 1}\n')])
    r = upload(api, data)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["success"] is True and UUID4.match(body["upload_id"])
    uid = body["upload_id"]
    st = wait_done(api, uid)
    assert st["status"] == "success", st
    assert st["upload_id"] == uid and st["asset_id"] == aid
    assert st["progress"] == {"bytes_done": 700_000 + 8 + 9, "bytes_total": 700_000 + 8 + 9,
                              "files_done": 3, "files_total": 3}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", st["created_at"])
    assert st["updated_at"] >= st["created_at"]

    doc = api.get(f"/assets/{aid}").json()["data"]
    assert doc["asset_file_ids"] == ["docs/readme.md", "weights/model v1.bin", "config.json"]
    files = {f["asset_file_id"]: f for f in doc["files"]}
    readme = files["docs/readme.md"]
    assert readme["asset_file_type"] == "documentation"
    assert readme["asset_file_mime_type"] == "text/markdown"
    assert readme["asset_file_metadata"] == {"lang": "en", "size": 8, "sha256": sha256(b"# hello\n"),
                                             "crc32": crc32(b"# hello\n")}
    w = files["weights/model v1.bin"]
    assert w["asset_file_type"] == "binary"
    assert w["asset_file_mime_type"] == "application/octet-stream"
    assert w["asset_file_metadata"] == {"size": len(big), "sha256": sha256(big), "crc32": crc32(big)}
    assert w["asset_file_url"] == f"{server.base}/files/{uid}/weights/model%20v1.bin"
    assert files["config.json"]["asset_file_mime_type"] == "application/json"
    # the bytes are in the blob store under <upload_id>/<path>
    assert stored_files(server.data_dir, uid) == ["config.json", "docs/readme.md", "weights/model v1.bin"]
    stored = Path(server.data_dir) / "blobs" / "o" / uid / "weights" / "model v1.bin"
    assert stored.read_bytes() == big
    assert uid + ".zip" not in spool_files(server.data_dir)


def test_large_stored_and_deflated_entries_byte_exact(api, server):
    """Entries over many of the pipeline's blocks and the blob writer's
    writeback steps, stored (zip -0) and deflated, come back byte-exact
    from /files with the SHA-256, CRC-32 and size of their bytes."""
    aid = uniq("zip")
    stored = os.urandom(40 * 1024 * 1024 + 5)
    deflated = os.urandom(1 << 20) * 3 + b"tail"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as z:
        z.writestr("asset.json", json.dumps(asset_doc(aid)))
        z.writestr(zipfile.ZipInfo("big/stored.bin"), stored, compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo("big/deflated.bin"), deflated, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(zipfile.ZipInfo("empty.bin"), b"", compress_type=zipfile.ZIP_STORED)
    st = upload_and_wait(api, buf.getvalue(), timeout=120)
    assert st["status"] == "success", st
    files = {f["asset_file_id"]: f for f in api.get(f"/assets/{aid}").json()["data"]["files"]}
    for name, want in (("big/stored.bin", stored), ("big/deflated.bin", deflated), ("empty.bin", b"")):
        md = files[name]["asset_file_metadata"]
        assert md == {"size": len(want), "sha256": sha256(want), "crc32": crc32(want)}, name
        r = api.get(f"/files/{st['upload_id']}/{name}")
        assert r.status_code == 200 and r.content == want, name


def test_url_segments_percent_encoded(api, server):
    aid = uniq("zip")
    name = "dir ü/a+b%c&d=e~f_g-h.i"
    st = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid)), (name, b"x")]))
    assert st["status"] == "success", st
    f = api.get(f"/assets/{aid}").json()["data"]["files"][0]
    want = "/".join(quote(s, safe="-._~") for s in name.split("/"))
    assert f["asset_file_url"] == f"{server.base}/files/{st['upload_id']}/{want}"
    assert "%C3%BC" in f["asset_file_url"] and "~f_g-h.i" in f["asset_file_url"]


def test_asset_json_only_and_unmatched_given_entries(api):
    aid = uniq("zip")
    ext = {"asset_file_id": "external.bin", "asset_file_type": "binary",
           "asset_file_mime_type": "application/octet-stream",
           "asset_file_url": "https://example.com/external.bin"}
    st = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid, files=[ext]))]))
    assert st["status"] == "success", st
    doc = api.get(f"/assets/{aid}").json()["data"]
    assert doc["asset_file_ids"] == ["external.bin"]
    assert doc["files"][0]["asset_file_url"] == "https://example.com/external.bin"


def test_nested_zip_is_just_a_file(api):
    aid = uniq("zip")
    inner = zip_bytes([("x.bin", b"\0" * 100_000)])
    st = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid)), ("inner.zip", inner)]))
    assert st["status"] == "success", st
    f = api.get(f"/assets/{aid}").json()["data"]["files"][0]
    assert f["asset_file_mime_type"] == "application/zip"
    assert f["asset_file_metadata"]["sha256"] == sha256(inner)


def test_other_form_fields_ignored(api):
    aid = uniq("zip")
    data = zip_bytes([("asset.json", asset_doc(aid)), ("f", b"1")])
    r = api.post("/zip/upload", data={"note": "x" * 5000, "label": "b"},
                 files={"file": ("b.zip", data, "application/zip")})
    assert r.status_code == 202, r.text
    assert wait_done(api, r.json()["upload_id"])["status"] == "success"


def test_empty_directories_are_skipped(api):
    aid = uniq("zip")
    data = zip_bytes([("asset.json", asset_doc(aid)), ("d/", b""), ("d/e/", b""), ("d/f", b"1")])
    st = upload_and_wait(api, data)
    assert st["status"] == "success", st
    assert api.get(f"/assets/{aid}").json()["data"]["asset_file_ids"] == ["d/f"]


# ---- refused at once -------------------------------------------------------

def test_not_multipart_is_415(api):
    r = api.post("/zip/upload", data=b"PK\x03\x04xxxx", headers={"Content-Type": "application/zip"})
    assert r.status_code == 415, r.text
    assert r.json()["success"] is False and "multipart/form-data" in r.json()["error"]
    r = api.post("/zip/upload")
    assert r.status_code == 415


def test_no_file_field_is_400(api):
    r = api.post("/zip/upload", files={"other": ("b.zip", b"PK\x03\x04", "application/zip")})
    assert r.status_code == 400 and "file" in r.json()["error"], r.text
    r = api.post("/zip/upload", data=b"", headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 400 and "file" in r.json()["error"], r.text


def test_not_a_zip_is_400(api, server):
    before = spool_files(server.data_dir)
    r = upload(api, b"this is not a zip archive at all")
    assert r.status_code == 400 and "not a zip" in r.json()["error"], r.text
    r = upload(api, b"PK")
    assert r.status_code == 400 and "not a zip" in r.json()["error"], r.text
    assert spool_settles(server.data_dir, before) == before


def test_malformed_multipart_is_400(api):
    r = api.post("/zip/upload", data=b"garbage" * 300,
                 headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 400 and "multipart" in r.json()["error"], r.text
    body = b"--zzz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nPK\x03\x04abc"
    r = api.post("/zip/upload", data=body, headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 400 and "closing boundary" in r.json()["error"], r.text
    r = api.post("/zip/upload", data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"], r.text


def test_over_upload_max_is_413(assetd_factory):
    inst = assetd_factory(args=["--upload-max", "200000"])
    c = inst.client()
    data = zip_bytes([("asset.json", asset_doc()), ("r", os.urandom(300_000))], zipfile.ZIP_STORED)
    r = upload(c, data)
    assert r.status_code == 413, r.text
    assert "200000" in r.json()["error"]
    assert spool_settles(inst.data_dir, []) == []
    # under the limit still works
    st = upload_and_wait(c, zip_bytes([("asset.json", asset_doc()), ("r", b"1")]))
    assert st["status"] == "success"


def test_chunked_upload_without_length_over_max_is_413(assetd_factory):
    inst = assetd_factory(args=["--upload-max", "100000"])
    c = inst.client()
    data = zip_bytes([("asset.json", asset_doc()), ("r", os.urandom(200_000))], zipfile.ZIP_STORED)
    boundary = "bndry"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n\r\n"
            .encode() + data + f"\r\n--{boundary}--\r\n".encode())

    def gen():
        for i in range(0, len(body), 16384):
            yield body[i:i + 16384]
    r = c.post("/zip/upload", data=gen(),
               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413, r.text
    assert spool_settles(inst.data_dir, []) == []


# ---- status ----------------------------------------------------------------

def test_status_unknown_is_404(api):
    r = api.get("/zip/status/0a5e3de1-1fcd-4a65-9c83-18c5c0b4d612")
    assert r.status_code == 404 and r.json()["success"] is False
    assert api.get("/zip/status/not-a-uuid").status_code == 404


def test_status_records_expire(assetd_factory):
    inst = assetd_factory(args=["--status-ttl", "1"])
    c = inst.client()
    st = upload_and_wait(c, zip_bytes([("asset.json", asset_doc()), ("a", b"1")]))
    assert st["status"] == "success"
    # expiry runs at start and then every minute: a restart shows it
    inst.stop()
    time.sleep(2.1)
    again = assetd_factory(args=["--status-ttl", "1"], data=inst.data_dir)
    assert again.client().get(f"/zip/status/{st['upload_id']}").status_code == 404


def test_status_survives_restart(assetd_factory):
    inst = assetd_factory()
    st = upload_and_wait(inst.client(), zip_bytes([("asset.json", asset_doc()), ("a", b"1")]))
    inst.stop()
    again = assetd_factory(data=inst.data_dir)
    r = again.client().get(f"/zip/status/{st['upload_id']}")
    assert r.status_code == 200 and r.json()["status"] == "success"


def test_memory_job_store_still_works(assetd_factory):
    inst = assetd_factory(args=["--jobs", "memory:"])
    st = upload_and_wait(inst.client(), zip_bytes([("asset.json", asset_doc()), ("a", b"1")]))
    assert st["status"] == "success"
    assert inst.client().get("/readyz").json()["data"]["jobs"] == "ok"


def test_unknown_job_store_refused(assetd_factory, tmp_path):
    inst = assetd_factory(args=["--jobs", "nosuch://127.0.0.1:1/0"], wait=False)
    assert inst.wait_exit(10) not in (None, 0)
    assert "unknown scheme" in inst.log()
    assetd_factory.instances.remove(inst)


def test_unreachable_job_store_refused(assetd_factory, tmp_path):
    # a Redis job store is pinged at start: a wrong address stops assetd at
    # once, with the reason (nothing listens on port 1)
    inst = assetd_factory(args=["--jobs", "redis://127.0.0.1:1/0"], wait=False)
    assert inst.wait_exit(10) not in (None, 0)
    assert "job store: redis 127.0.0.1:1/0: Connection refused" in inst.log()
    assetd_factory.instances.remove(inst)


def test_readyz_reports_jobs(api):
    assert api.get("/readyz").json()["data"]["jobs"] == "ok"


def test_jobs_run_in_arrival_order(assetd_factory):
    inst = assetd_factory(args=["--workers", "1"])
    c = inst.client()
    ids = []
    for i in range(5):
        r = upload(c, zip_bytes([("asset.json", asset_doc()), ("a", os.urandom(200_000))]))
        ids.append(r.json()["upload_id"])
    done = [wait_done(c, u) for u in ids]
    assert all(d["status"] == "success" for d in done)
    finished = [d["updated_at"] for d in done]
    assert finished == sorted(finished)


# ---- atomicity -------------------------------------------------------------

def test_failure_after_storing_removes_every_object(api, server):
    aid = uniq("zip")
    bad_given = [{"asset_file_id": "not-in-archive"}]  # no type/url: invalid at registration
    data = zip_bytes([("asset.json", asset_doc(aid, files=bad_given)),
                      ("a.bin", os.urandom(100_000)), ("b/c.bin", os.urandom(1000))])
    st = upload_and_wait(api, data)
    assert st["status"].startswith("failed: asset.json failed validation"), st
    assert "asset_file_type" in st["status"] or "asset_file_url" in st["status"]
    assert api.get(f"/assets/{aid}").status_code == 404
    assert stored_files(server.data_dir, st["upload_id"]) == []
    assert st["upload_id"] + ".zip" not in spool_files(server.data_dir)


def test_existing_asset_id_fails_and_leaves_nothing(api, server):
    aid = uniq("zip")
    first = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid)), ("a", b"1")]))
    assert first["status"] == "success"
    st = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid)), ("b", b"2")]))
    assert st["status"].startswith("failed: ") and "already exists" in st["status"], st
    assert st["asset_id"] == aid
    assert stored_files(server.data_dir, st["upload_id"]) == []
    assert stored_files(server.data_dir, first["upload_id"]) == ["a"]


def test_same_asset_id_raced_one_wins(assetd_factory):
    inst = assetd_factory(args=["--workers", "4"])
    c = inst.client()
    aid = uniq("zip")
    ids = [upload(c, zip_bytes([("asset.json", asset_doc(aid)), ("a", os.urandom(300_000))])).json()["upload_id"]
           for _ in range(4)]
    done = [wait_done(c, u) for u in ids]
    ok = [d for d in done if d["status"] == "success"]
    assert len(ok) == 1, done
    for d in done:
        if d["status"] != "success":
            assert "already exists" in d["status"]
            assert stored_files(inst.data_dir, d["upload_id"]) == []


# ---- interrupted jobs ------------------------------------------------------
# These jobs store every entry themselves (--store-while-uploading off), so
# they can be caught in the middle of storing; what an upload stores while
# it arrives has its own crash tests in test_zip_upload_early.py.

JOB_STORES = ["--store-while-uploading", "off"]


def test_kill_9_then_restart_resumes(assetd_factory, tmp_path):
    aid = uniq("zip")
    path = big_stored_zip(tmp_path / "big.zip", aid)
    inst = assetd_factory(args=["--workers", "1"] + JOB_STORES)
    uid, st = start_and_catch_processing(inst.client(), path)
    if st["progress"]["files_done"] >= 24:
        pytest.skip("the job finished before it could be killed")
    inst.proc.kill()
    inst.proc.wait()
    assetd_factory.instances.remove(inst)
    again = assetd_factory(args=["--workers", "1"] + JOB_STORES, data=inst.data_dir)
    c = again.client()
    done = wait_done(c, uid)
    assert done["status"] == "success", done
    assert done["progress"]["files_done"] == 24
    assert len(c.get(f"/assets/{aid}").json()["data"]["files"]) == 24
    assert len(stored_files(inst.data_dir, uid)) == 24
    assert spool_files(inst.data_dir) == []
    assert "recovered an interrupted upload" in again.log()


def test_kill_9_with_spool_gone_fails_and_cleans(assetd_factory, tmp_path):
    aid = uniq("zip")
    path = big_stored_zip(tmp_path / "big.zip", aid)
    inst = assetd_factory(args=["--workers", "1"] + JOB_STORES)
    uid, st = start_and_catch_processing(inst.client(), path)
    inst.proc.kill()
    inst.proc.wait()
    assetd_factory.instances.remove(inst)
    if st["progress"]["files_done"] >= 24:
        pytest.skip("the job finished before it could be killed")
    assert len(stored_files(inst.data_dir, uid)) >= 1
    os.unlink(Path(inst.data_dir) / "spool" / f"{uid}.zip")
    again = assetd_factory(data=inst.data_dir)
    # a worker of the new process takes the abandoned job over (its lease
    # expired at start) and fails it, so poll until it has
    st = wait_done(again.client(), uid)
    assert st["status"].startswith("failed: interrupted"), st
    assert stored_files(inst.data_dir, uid) == []
    assert again.client().get(f"/assets/{aid}").status_code == 404


def test_sigterm_mid_job_requeues_and_restart_finishes(assetd_factory, tmp_path):
    aid = uniq("zip")
    path = big_stored_zip(tmp_path / "big.zip", aid)
    inst = assetd_factory(args=["--workers", "1"] + JOB_STORES)
    uid, st = start_and_catch_processing(inst.client(), path)
    assert inst.stop() == 0
    st = None
    again = assetd_factory(data=inst.data_dir)
    done = wait_done(again.client(), uid)
    assert done["status"] == "success", done
    assert len(stored_files(inst.data_dir, uid)) == 24


def test_kill_9_mid_upload_leaves_no_spool(assetd_factory):
    inst = assetd_factory()
    s = socket.create_connection(("127.0.0.1", inst.port))
    head = (b"POST /zip/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=q\r\n"
            b"Content-Length: 10000000\r\n\r\n--q\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
            b"PK\x03\x04" + b"\0" * 200_000)
    s.sendall(head)
    deadline = time.monotonic() + 10
    while not spool_files(inst.data_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert spool_files(inst.data_dir), "the body was not being spooled"
    inst.proc.kill()
    inst.proc.wait()
    s.close()
    assetd_factory.instances.remove(inst)
    assetd_factory(data=inst.data_dir)
    assert spool_files(inst.data_dir) == []


def test_client_gone_mid_upload_removes_spool(api, server):
    before = spool_files(server.data_dir)
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"POST /zip/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=q\r\n"
              b"Content-Length: 10000000\r\n\r\n--q\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
              b"PK\x03\x04" + b"\0" * 100_000)
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 10
    while spool_files(server.data_dir) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_files(server.data_dir) == before


def test_declared_size_over_the_limit_refused_before_the_body(assetd_factory):
    """A client that announces a body over --upload-max and asks for
    100-continue (as curl does for large bodies) gets 413 at once, without
    sending a byte of the body; the server keeps serving."""
    inst = assetd_factory(args=["--upload-max", "1048576"], name="upload-max instance")
    head = (b"POST /zip/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\n"
            b"Content-Length: 10737418240\r\nExpect: 100-continue\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    try:
        s.sendall(head)
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    finally:
        s.close()
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    body = resp.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in resp else b""
    if body:
        assert b'"payload_too_large"' in body, body[:300]
    c = inst.client()
    try:
        assert c.get("/healthz").status_code == 200
    finally:
        c.close()
