"""
zip_upload_helpers.py - shared helpers of the ZIP upload tests: asset.json
documents, archives built in memory with zipfile or on disk with external
tools, raw archive surgery for hostile cases, upload and status polling.
"""

import hashlib
import io
import json
import os
import struct
import time
import zipfile
import zlib

from e2e_helpers import make_asset, uniq


def asset_doc(asset_id=None, files=None, **fields):
    """A valid asset.json (files: the asset.json's own files list)."""
    a = make_asset(asset_id or uniq("zip"), **fields)
    if files is not None:
        a["files"] = files
    return a


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    """A zip (bytes) of entries: a list of (name, bytes|str|dict)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            if isinstance(data, dict):
                data = json.dumps(data)
            z.writestr(name, data)
    return buf.getvalue()


def upload(client, data, field="file", filename="bundle.zip", **kw):
    """POSTs data (bytes or an open file) as multipart field `field`."""
    return client.post("/zip/upload", files={field: (filename, data, "application/zip")}, **kw)


def wait_done(client, upload_id, timeout=60.0):
    """Polls /zip/status until the job ends; returns the status document."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/zip/status/{upload_id}")
        assert r.status_code == 200, r.text
        st = r.json()
        if st["status"] == "success" or st["status"].startswith("failed"):
            return st
        assert time.monotonic() < deadline, f"upload {upload_id} still {st} after {timeout} s"
        time.sleep(0.05)


def upload_and_wait(client, data, timeout=60.0):
    r = upload(client, data)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["success"] is True
    return wait_done(client, body["upload_id"], timeout)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def crc32(b):
    return f"{zlib.crc32(b) & 0xffffffff:08x}"


def patch_name(data, old, new):
    """Replaces an entry name in both the local header and the central
    directory (same length), e.g. to put a NUL or a backslash in it."""
    assert len(old) == len(new)
    assert data.count(old) == 2, "the name must occur exactly twice"
    return data.replace(old, new)


def overlapping_bomb(n_refs, size=1 << 20):
    """A zip whose central directory has n_refs entries all pointing at the
    same local file (size zero bytes, deflated): the 'overlapping entries'
    zip bomb. Plus an asset.json."""
    base = zip_bytes([("asset.json", asset_doc()), ("a", b"\0" * size)])
    eocd = base.rindex(b"PK\x05\x06")
    n, cd_size, cd_off = struct.unpack("<HII", base[eocd + 10:eocd + 20])
    cd = base[cd_off:cd_off + cd_size]
    # the second central record is "a"
    first_len = 46 + sum(struct.unpack("<HHH", cd[28:34]))
    rec_a = cd[first_len:]
    name_len = struct.unpack("<H", rec_a[28:30])[0]
    extra = rec_a[46 + name_len:]
    recs = [cd[:first_len], rec_a]
    for i in range(n_refs):
        nm = f"b{i:06d}".encode()
        r = bytearray(rec_a[:46])
        struct.pack_into("<H", r, 28, len(nm))
        recs.append(bytes(r) + nm + extra)
    new_cd = b"".join(recs)
    tail = bytearray(base[eocd:eocd + 22])
    struct.pack_into("<HHII", tail, 8, len(recs), len(recs), len(new_cd), cd_off)
    return base[:cd_off] + new_cd + bytes(tail)


def big_stored_zip(path, aid, nfiles=24, size=4 << 20):
    """An archive on disk of nfiles stored entries of size random bytes each
    (the same bytes), large enough that a job on it can be caught running."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("asset.json", json.dumps(asset_doc(aid)))
        chunk = os.urandom(size)
        for i in range(nfiles):
            z.writestr(f"part{i:03d}.bin", chunk)
    return path


def start_and_catch_processing(client, path, timeout=60.0):
    """Uploads the archive at path and polls until its job is processing
    with at least one file done; returns (upload_id, status)."""
    with open(path, "rb") as f:
        r = upload(client, f)
    assert r.status_code == 202, r.text
    uid = r.json()["upload_id"]
    deadline = time.monotonic() + timeout
    while True:
        st = client.get(f"/zip/status/{uid}").json()
        if st["status"] == "processing" and st["progress"]["files_done"] >= 1:
            return uid, st
        assert st["status"] in ("queued", "processing"), st
        assert time.monotonic() < deadline, "the job never showed progress"
        time.sleep(0.005)
