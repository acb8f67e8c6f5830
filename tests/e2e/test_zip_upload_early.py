"""
test_zip_upload_early.py - entries stored while the upload body arrives
(--store-while-uploading, core/zipspec.h): big stored entries go to the
blob store as the body brings them, the spool gets holes there, and the job
adopts each object only when the central directory agrees with what was
stored. What the user checks: the files are right (bytes, SHA-256, CRC-32,
MIME type) whatever path stored them; an archive whose directory disagrees
with its local headers fails with a reason and leaves nothing behind; an
upload cut off, a kill -9 during the body or during the job leaves no
orphan object and no spool file, and a job interrupted after the body is
complete still finishes with the objects stored early.
"""

import hashlib
import io
import json
import os
import re
import socket
import struct
import time
import zipfile
from pathlib import Path

import pytest

from e2e_helpers import uniq
from zip_upload_helpers import (asset_doc, crc32, sha256, start_and_catch_processing, upload, upload_and_wait,
                                wait_done)

MIB = 1 << 20


def objects(data_dir):
    """Every object file of the data directory's blob store, and every
    temporary file a writer left."""
    root = Path(data_dir) / "blobs"
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def spool(data_dir):
    return sorted(os.listdir(Path(data_dir) / "spool"))


def settles(fn, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def stored_early(inst, uid):
    """stored_early=N of the job's end line in the log."""
    for line in inst.log().splitlines():
        if f"upload={uid}" in line and 'msg="upload ' in line:
            m = re.search(r"stored_early=(\d+)", line)
            if m:
                return int(m.group(1))
    return None


def stored_zip(entries):
    """A zip of stored (uncompressed) entries: a list of (name, bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def cd_records(data):
    """(offset, record bytes, name) of each central directory record."""
    eocd = data.rindex(b"PK\x05\x06")
    n, cd_size, cd_off = struct.unpack("<HII", data[eocd + 10:eocd + 20])
    out, at = [], cd_off
    for _ in range(n):
        nl, xl, cl = struct.unpack("<HHH", data[at + 28:at + 34])
        ln = 46 + nl + xl + cl
        out.append((at, data[at:at + ln], data[at + 46:at + 46 + nl].decode()))
        at += ln
    return out, eocd, cd_off


def bundle(aid, big=3, size=2 * MIB):
    """asset.json, `big` stored entries of `size` bytes (the first one text,
    the others random) and a small one; returns (zip bytes, {name: bytes})."""
    files = {}
    text = (b"the quick brown fox jumps over the lazy dog\n" * (size // 44 + 1))[:size]
    files["big0.txt"] = text
    for i in range(1, big):
        files[f"data/big{i}.bin"] = os.urandom(size)
    files["small.txt"] = b"small file\n" * 100
    entries = [("asset.json", json.dumps(asset_doc(aid)).encode())] + list(files.items())
    return stored_zip(entries), files


def test_big_entries_stored_while_uploading_are_adopted(assetd_factory):
    inst = assetd_factory()
    c = inst.client()
    aid = uniq("early")
    data, files = bundle(aid)
    r = upload(c, data)
    assert r.status_code == 202, r.text
    uid = r.json()["upload_id"]
    st = wait_done(c, uid)
    assert st["status"] == "success", st
    assert st["progress"]["files_done"] == 4
    # the three big entries were stored from the body and adopted; the
    # small one (under 1 MiB) was stored by the job
    assert inst.wait_log(lambda log: f"upload={uid}" in log and "stored_early=" in log)
    assert stored_early(inst, uid) == 3
    doc = c.get(f"/assets/{aid}").json()["data"]
    by_id = {f["asset_file_id"]: f for f in doc["files"]}
    assert sorted(by_id) == sorted(files)
    for name, body in files.items():
        md = by_id[name]["asset_file_metadata"]
        assert md["size"] == len(body)
        assert md["sha256"] == sha256(body)
        assert md["crc32"] == crc32(body)
        got = c.get(f"/files/{uid}/{name}")
        assert got.status_code == 200
        assert got.content == body
    assert by_id["big0.txt"]["asset_file_mime_type"] == "text/plain"
    assert spool(inst.data_dir) == [], "the spool and its manifest are removed after success"


def test_switched_off_the_job_stores_everything(assetd_factory):
    inst = assetd_factory(args=["--store-while-uploading", "off"])
    c = inst.client()
    aid = uniq("early")
    data, files = bundle(aid, big=2)
    r = upload(c, data)
    uid = r.json()["upload_id"]
    st = wait_done(c, uid)
    assert st["status"] == "success", st
    assert inst.wait_log(lambda log: f"upload={uid}" in log and "stored_early=" in log)
    assert stored_early(inst, uid) == 0
    for name, body in files.items():
        assert c.get(f"/files/{uid}/{name}").content == body


def fails_clean(inst, data, want):
    c = inst.client()
    r = upload(c, data)
    assert r.status_code == 202, r.text
    uid = r.json()["upload_id"]
    st = wait_done(c, uid)
    assert st["status"].startswith("failed: "), st
    assert want in st["status"], st
    assert settles(lambda: objects(inst.data_dir), []) == [], "objects stored early are removed"
    assert settles(lambda: spool(inst.data_dir), []) == []
    return uid


def test_directory_crc_disagreeing_with_stored_entry_fails_clean(assetd_factory):
    inst = assetd_factory()
    aid = uniq("early")
    data, _ = bundle(aid)
    recs, _, _ = cd_records(data)
    at, rec, name = next(r for r in recs if r[2] == "data/big1.bin")
    bad = bytearray(data)
    struct.pack_into("<I", bad, at + 16, (struct.unpack("<I", rec[16:20])[0] ^ 0x5A5A5A5A))
    fails_clean(inst, bytes(bad), 'entry "data/big1.bin" does not match its local header')
    assert inst.client().get(f"/assets/{aid}").status_code == 404


def test_local_entry_missing_from_directory_fails_clean(assetd_factory):
    inst = assetd_factory()
    aid = uniq("early")
    data, _ = bundle(aid)
    recs, eocd, cd_off = cd_records(data)
    # a local entry the central directory does not list (the "dead entry"
    # an in-place update leaves): its bytes were stored from the body, and
    # nothing in the archive vouches for them
    kept = [r for r in recs if r[2] != "data/big2.bin"]
    cd = b"".join(r[1] for r in kept)
    tail = bytearray(data[eocd:eocd + 22])
    struct.pack_into("<HHII", tail, 8, len(kept), len(kept), len(cd), cd_off)
    fails_clean(inst, data[:cd_off] + cd + bytes(tail),
                '("data/big2.bin") is not in the central directory')


def test_archive_cut_inside_a_stored_entry_fails_clean(assetd_factory):
    inst = assetd_factory()
    aid = uniq("early")
    data, _ = bundle(aid)
    cut = data.index(b"data/big1.bin") + 13 + MIB  # a megabyte into its data
    uid = fails_clean(inst, data[:cut], "corrupt archive")
    assert inst.client().get(f"/zip/status/{uid}").json()["status"].startswith("failed")


def raw_upload_start(port, body_prefix, length=64 * MIB):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /zip/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=q\r\n"
              + f"Content-Length: {length}\r\n\r\n".encode()
              + b"--q\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.zip\"\r\n\r\n" + body_prefix)
    return s


def partial_archive():
    """The bytes of an archive up to 1.5 MiB into its third big entry: two
    big entries complete (stored while arriving), one in progress."""
    data, _ = bundle(uniq("early"), big=3, size=2 * MIB)
    return data[:data.index(b"data/big2.bin") + 13 + MIB + MIB // 2]


def test_client_gone_mid_entry_removes_what_was_stored(assetd_factory):
    inst = assetd_factory()
    s = raw_upload_start(inst.port, partial_archive())
    assert settles(lambda: len([o for o in objects(inst.data_dir) if o.startswith("o/")]), 2) == 2, \
        "the two complete big entries were stored while the body arrived"
    s.close()
    assert settles(lambda: objects(inst.data_dir), []) == []
    assert settles(lambda: spool(inst.data_dir), []) == []
    assert inst.client().get("/healthz").status_code == 200


def test_kill_9_mid_body_then_restart_removes_what_was_stored(assetd_factory):
    inst = assetd_factory()
    s = raw_upload_start(inst.port, partial_archive())
    assert settles(lambda: len([o for o in objects(inst.data_dir) if o.startswith("o/")]), 2) == 2
    assert any(f.endswith(".spec") for f in spool(inst.data_dir)), "the manifest lists them"
    inst.proc.kill()
    inst.proc.wait()
    s.close()
    assetd_factory.instances.remove(inst)
    again = assetd_factory(data=inst.data_dir)
    assert objects(inst.data_dir) == [], "the start-up sweep removes what the cut upload stored"
    assert spool(inst.data_dir) == []
    assert "removed a stale spool file" in again.log()


def slow_bundle(aid, path):
    """One big stored entry first (stored while the body arrives), then
    enough small entries that the job can be caught storing them."""
    big = os.urandom(3 * MIB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("asset.json", json.dumps(asset_doc(aid)))
        z.writestr("big.bin", big)
        for i in range(400):
            z.writestr(f"s/{i:04d}.txt", f"small {i}\n" * 50)
    return big


def test_kill_9_mid_job_then_restart_adopts_again(assetd_factory, tmp_path):
    aid = uniq("early")
    path = tmp_path / "slow.zip"
    big = slow_bundle(aid, path)
    inst = assetd_factory(args=["--workers", "1"])
    uid, st = start_and_catch_processing(inst.client(), path)
    if st["progress"]["files_done"] >= 401:
        pytest.skip("the job finished before it could be killed")
    inst.proc.kill()
    inst.proc.wait()
    assetd_factory.instances.remove(inst)
    again = assetd_factory(args=["--workers", "1"], data=inst.data_dir)
    c = again.client()
    done = wait_done(c, uid)
    assert done["status"] == "success", done
    assert done["progress"]["files_done"] == 401
    assert again.wait_log(lambda log: f"upload={uid}" in log and "stored_early=" in log)
    assert stored_early(again, uid) == 1, "the object stored while the body arrived is kept and adopted"
    md = {f["asset_file_id"]: f for f in c.get(f"/assets/{aid}").json()["data"]["files"]}["big.bin"]
    assert md["asset_file_metadata"]["sha256"] == sha256(big)
    assert c.get(f"/files/{uid}/big.bin").content == big
    assert spool(inst.data_dir) == []


def test_kill_9_mid_job_with_spool_gone_fails_and_removes_early_objects(assetd_factory, tmp_path):
    aid = uniq("early")
    path = tmp_path / "slow.zip"
    slow_bundle(aid, path)
    inst = assetd_factory(args=["--workers", "1"])
    uid, st = start_and_catch_processing(inst.client(), path)
    inst.proc.kill()
    inst.proc.wait()
    assetd_factory.instances.remove(inst)
    if st["progress"]["files_done"] >= 401:
        pytest.skip("the job finished before it could be killed")
    assert f"{uid}/big.bin" in [o[2:] for o in objects(inst.data_dir) if o.startswith("o/")]
    os.unlink(Path(inst.data_dir) / "spool" / f"{uid}.zip")
    again = assetd_factory(data=inst.data_dir)
    st = wait_done(again.client(), uid)
    assert st["status"].startswith("failed: interrupted"), st
    assert settles(lambda: objects(inst.data_dir), []) == [], "the early object goes with the archive"
    assert spool(inst.data_dir) == []


def test_a_pausing_client_still_has_its_entries_stored(assetd_factory):
    """The upload's thread is woken per 256 KiB of body, but what a client
    sent before pausing is processed anyway: the first big entry, sent
    whole and followed by a few bytes, is stored while the client waits."""
    inst = assetd_factory()
    data, _ = bundle(uniq("early"), big=2, size=2 * MIB)
    s = raw_upload_start(inst.port, data[:data.index(b"data/big1.bin") - 25])
    try:
        got = settles(lambda: len([o for o in objects(inst.data_dir) if o.startswith("o/")]), 1, timeout=10)
        assert got == 1, "the first entry was not stored while the client paused"
    finally:
        s.close()
    assert settles(lambda: objects(inst.data_dir), []) == []
