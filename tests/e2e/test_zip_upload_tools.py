"""
test_zip_upload_tools.py - archives written by different tools all ingest
the same way: Info-ZIP zip, Python's zipfile, bsdtar and 7z; stored and
deflated entries; data descriptors (streamed output); zip64 (more than
65 535 entries, and an entry over 4 GiB, streamed as deflated zeros so
the archive itself stays small).
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from e2e_helpers import uniq
from zip_upload_helpers import asset_doc, sha256, upload, upload_and_wait, wait_done

TREE = {
    "a.txt": b"hello, registry\n",
    "dir/b.bin": None,  # random, filled per tree
    "dir/sub/c.json": b'{"k": [1, 2, 3]}\n',
    "empty.txt": b"",
    "spaced name.dat": b"\x00\x01\x02" * 1000,
}


def make_tree(root, aid):
    files = dict(TREE)
    files["dir/b.bin"] = os.urandom(300_000)
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "asset.json").write_text(json.dumps(asset_doc(aid)))
    return files


def check_ingested(client, st, aid, files):
    assert st["status"] == "success", st
    doc = client.get(f"/assets/{aid}").json()["data"]
    got = {f["asset_file_id"]: f["asset_file_metadata"] for f in doc["files"]}
    assert sorted(got) == sorted(files)
    for name, data in files.items():
        assert got[name]["sha256"] == sha256(data), name
        assert got[name]["size"] == len(data), name


def has_data_descriptor(data):
    """True when some local header sets general purpose bit 3."""
    i = data.find(b"PK\x03\x04")
    while i >= 0:
        if struct.unpack("<H", data[i + 6:i + 8])[0] & 0x08:
            return True
        i = data.find(b"PK\x03\x04", i + 4)
    return False


def run(cmd, cwd, out=None):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=out or subprocess.DEVNULL, stderr=subprocess.PIPE)


TOOLS = {
    "infozip-deflate": lambda d, z: run(["zip", "-q", "-r", str(z), "."], d),
    "infozip-stored": lambda d, z: run(["zip", "-q", "-0", "-r", str(z), "."], d),
    "infozip-streamed": lambda d, z: run(["sh", "-c", f"zip -q -r - . | cat > '{z}'"], d),
    "bsdtar-deflate": lambda d, z: run(["bsdtar", "--format", "zip", "-cf", str(z), "."], d),
    "bsdtar-stored": lambda d, z: run(["bsdtar", "--format", "zip", "--options", "zip:compression=store",
                                       "-cf", str(z), "."], d),
    "7z-deflate": lambda d, z: run(["7z", "a", "-tzip", str(z), "."], d),
    "7z-stored": lambda d, z: run(["7z", "a", "-tzip", "-mx=0", str(z), "."], d),
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_tool_archives(api, tmp_path, tool):
    exe = tool.split("-")[0].replace("infozip", "zip")
    if not shutil.which(exe):
        pytest.fail(f"{exe} is not installed (scripts/install-deps.sh test)")
    aid = uniq("zip")
    d = tmp_path / "tree"
    d.mkdir()
    files = make_tree(d, aid)
    z = tmp_path / "out.zip"
    TOOLS[tool](d, z)
    data = z.read_bytes()
    if tool == "infozip-streamed":
        assert has_data_descriptor(data)
    check_ingested(api, upload_and_wait(api, data), aid, files)


class Unseekable:
    """A write-only stream without tell/seek: zipfile then writes data
    descriptors."""

    def __init__(self):
        self.parts = []

    def write(self, b):
        self.parts.append(bytes(b))
        return len(b)

    def flush(self):
        pass

    def value(self):
        return b"".join(self.parts)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("streamed", [False, True])
def test_python_zipfile(api, tmp_path, compression, streamed):
    aid = uniq("zip")
    files = dict(TREE)
    files["dir/b.bin"] = os.urandom(300_000)
    out = Unseekable() if streamed else open(tmp_path / "p.zip", "wb")
    with zipfile.ZipFile(out, "w", compression) as z:
        z.writestr("asset.json", json.dumps(asset_doc(aid)))
        for name, data in files.items():
            with z.open(name, "w") as f:
                f.write(data)
    if streamed:
        data = out.value()
        assert has_data_descriptor(data)
    else:
        out.close()
        data = (tmp_path / "p.zip").read_bytes()
    check_ingested(api, upload_and_wait(api, data), aid, files)


def shm_dir(tmp_path):
    """A data directory in memory when /dev/shm is there: 70 000 small
    objects fsynced one by one on a disk would dominate the run time."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile_dir(shm))
        return d
    return tmp_path / "data"


def tempfile_dir(base):
    import tempfile
    return tempfile.mkdtemp(prefix="assetd-zip64-", dir=base)


def test_zip64_more_than_65535_entries(assetd_factory, tmp_path):
    data_dir = shm_dir(tmp_path)
    try:
        inst = assetd_factory(data=data_dir, args=["--workers", "1"])
        c = inst.client()
        aid = uniq("zip")
        n = 65_600
        p = tmp_path / "many.zip"
        with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
            z.writestr("asset.json", json.dumps(asset_doc(aid)))
            for i in range(n):
                z.writestr(f"d{i // 1000:03d}/f{i:05d}", str(i))
        raw = p.read_bytes()
        assert b"PK\x06\x06" in raw[-200:], "expected a zip64 end record"
        with open(p, "rb") as f:
            r = upload(c, f)
        st = wait_done(c, r.json()["upload_id"], timeout=600)
        assert st["status"] == "success", st
        assert st["progress"]["files_done"] == n
        doc = c.get(f"/assets/{aid}").json()["data"]
        assert len(doc["asset_file_ids"]) == n
        f = {x["asset_file_id"]: x for x in doc["files"]}["d065/f65599"]
        assert f["asset_file_metadata"]["sha256"] == sha256(b"65599")
        inst.stop()
    finally:
        if str(data_dir).startswith("/dev/shm/"):
            shutil.rmtree(data_dir, ignore_errors=True)


BIG = (4 << 30) + (1 << 20)  # over 4 GiB: needs zip64 sizes


def test_zip64_entry_over_4_gib(assetd_factory, tmp_path):
    free = shutil.disk_usage(tmp_path).free
    need = BIG + (512 << 20)
    if free < need:
        pytest.skip(f"needs {need >> 20} MiB free in {tmp_path}, {free >> 20} MiB available")
    aid = uniq("zip")
    p = tmp_path / "big.zip"
    zeros = bytes(1 << 20)
    h = hashlib.sha256()
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("asset.json", json.dumps(asset_doc(aid)))
        with z.open("zeros.bin", "w", force_zip64=True) as f:
            for _ in range(BIG >> 20):
                f.write(zeros)
                h.update(zeros)
    assert p.stat().st_size < 64 << 20
    inst = assetd_factory(args=["--zip-max-ratio", "100000"])
    c = inst.client()
    try:
        with open(p, "rb") as f:
            r = upload(c, f)
        st = wait_done(c, r.json()["upload_id"], timeout=900)
        assert st["status"] == "success", st
        meta = c.get(f"/assets/{aid}").json()["data"]["files"][0]["asset_file_metadata"]
        assert meta["size"] == BIG
        assert meta["sha256"] == h.hexdigest()
        stored = Path(inst.data_dir) / "blobs" / "o" / st["upload_id"] / "zeros.bin"
        assert stored.stat().st_size == BIG
    finally:
        shutil.rmtree(Path(inst.data_dir) / "blobs", ignore_errors=True)
