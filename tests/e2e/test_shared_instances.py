"""
test_shared_instances.py - several assetd instances sharing their stores:
PostgreSQL (meta), Redis (jobs) and the blob store (Ceph RGW over S3 when
ASSETD_TEST_S3_URL is set, else one directory both instances use). Each
instance has its own data directory, so nothing passes between them but the
shared servers: uploads are staged in the blob store (--stage-uploads auto).

- an upload to the first instance is processed by either; its status, the
  asset and its ZIP download answer on the second;
- the first instance is killed with SIGKILL while it processes a large
  upload: the job completes on the second, with one asset and no object
  left behind (no staged archive, no file of the first attempt).

The servers are started by scripts/test.sh (scripts/servers/*.sh); without
them the tests skip and say which is missing.
"""

import io
import json
import os
import uuid
import zipfile
from pathlib import Path

import pytest

from e2e_helpers import ok, seg, uniq
from zip_upload_helpers import asset_doc, big_stored_zip, upload, start_and_catch_processing, wait_done, zip_bytes

if os.environ.get("ASSETD_TEST_S3_URL"):
    from test_s3_backend import objects_under, uploads_under, with_prefix

PG_URL = os.environ.get("ASSETD_TEST_PG_URL", "")
REDIS_URL = os.environ.get("ASSETD_TEST_REDIS_URL", "")
S3_URL = os.environ.get("ASSETD_TEST_S3_URL", "")

pytestmark = pytest.mark.skipif(
    not PG_URL or not REDIS_URL,
    reason="needs ASSETD_TEST_PG_URL and ASSETD_TEST_REDIS_URL (scripts/test.sh starts "
           "PostgreSQL and Redis with scripts/servers/*.sh)")


def with_param(url, param):
    return url + ("&" if "?" in url else "?") + param


class Shared:
    """One set of shared stores for a test: a fresh PostgreSQL schema, a
    fresh Redis key prefix, and a fresh blob location."""

    def __init__(self, tmp_path):
        tag = uuid.uuid4().hex[:10]
        self.meta = with_param(PG_URL, f"schema=e2e_{tag}")
        self.prefix = f"e2e-{tag}:"
        self.jobs = with_param(with_param(REDIS_URL, "prefix=" + self.prefix),
                               "visibility_timeout=3")
        if S3_URL:
            # a prefix of its own in the test cluster's bucket, small parts so
            # the large archive goes up as a multipart upload
            self.s3_prefix = f"shared-{tag}"
            self.blobs = with_prefix(S3_URL, self.s3_prefix,
                                     "part_size=5MiB&multipart_threshold=5MiB")
            self.blob_dir = None
        else:
            self.blob_dir = tmp_path / "shared-blobs"
            self.blob_dir.mkdir()
            self.blobs = f"file://{self.blob_dir}"
        self.public_url = "http://registry.invalid"

    def args(self, *extra):
        # every instance behind one address, as behind a load balancer: file
        # URLs name it, and any instance serves them from the shared store
        return ["--meta", self.meta, "--jobs", self.jobs, "--blobs", self.blobs,
                "--workers", "1", "--public-url", self.public_url, *extra]

    def object_keys(self):
        """Every object key in the shared blob store, and the number of
        unfinished multipart uploads (S3)."""
        if S3_URL:
            n = len(self.s3_prefix) + 1
            return sorted(k[n:] for k in objects_under(self.s3_prefix)), \
                uploads_under(self.s3_prefix)
        root = self.blob_dir
        return (sorted(str(p.relative_to(root / "o")) for p in (root / "o").rglob("*")
                       if p.is_file()) if (root / "o").exists() else []), 0


def test_upload_on_one_instance_served_by_the_other(assetd_factory, tmp_path):
    sh = Shared(tmp_path)
    a = assetd_factory(args=sh.args(), name="instance A")
    b = assetd_factory(args=sh.args(), name="instance B")
    ca, cb = a.client(), b.client()
    aid = uniq("shared")
    payload = os.urandom(300_000)
    r = upload(ca, zip_bytes([("asset.json", asset_doc(aid)), ("model/w.bin", payload)]))
    assert r.status_code == 202, r.text
    uid = r.json()["upload_id"]
    # the status answers on B (whichever instance runs the job)
    st = wait_done(cb, uid)
    assert st["status"] == "success", st
    assert st["asset_id"] == aid
    doc = ok(cb.get("/assets/" + seg(aid)))
    assert [f["asset_file_id"] for f in doc["files"]] == ["model/w.bin"]
    z = cb.get("/zip/download/" + seg(aid))
    assert z.status_code == 200
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        assert zf.read("model/w.bin") == payload
        assert json.loads(zf.read("asset.json"))["asset_id"] == aid
    # the file URL names the shared address; either instance serves its path
    url = doc["files"][0]["asset_file_url"]
    assert url.startswith(sh.public_url + "/files/")
    for c in (ca, cb):
        assert c.get(url[len(sh.public_url):]).content == payload
    # nothing was spooled on either instance's disk: the archive went to the blob store
    for inst in (a, b):
        spool = Path(inst.data_dir) / "spool"
        assert not spool.exists() or os.listdir(spool) == [], os.listdir(spool)
    keys, parts = sh.object_keys()
    assert keys == [f"{uid}/model/w.bin"], keys  # the staged archive is gone
    assert parts == 0


def test_killed_instance_job_completes_on_the_other(assetd_factory, tmp_path):
    sh = Shared(tmp_path)
    aid = uniq("shared-kill")
    path = big_stored_zip(tmp_path / "big.zip", aid)
    a = assetd_factory(args=sh.args(), name="instance A")
    ca = a.client()
    uid, st = start_and_catch_processing(ca, path)
    if st["progress"]["files_done"] >= 24:
        pytest.skip("the job finished before it could be killed")
    a.proc.kill()
    a.proc.wait()
    assetd_factory.instances.remove(a)

    # B has its own data directory: only the shared servers connect the two
    b = assetd_factory(args=sh.args(), name="instance B")
    cb = b.client()
    done = wait_done(cb, uid, timeout=120)
    assert done["status"] == "success", done
    assert done["progress"]["files_done"] == 24
    # one asset, with its 24 files
    found = ok(cb.post("/query/search", json={"asset_id": aid}))
    assert len(found) == 1 and len(found[0]["files"]) == 24
    log = b.wait_log(lambda t: "recovered an interrupted upload" in t)
    assert "recovered an interrupted upload" in log
    keys, parts = sh.object_keys()
    # exactly the asset's files: no staged archive, nothing left of the first attempt
    assert keys == sorted(f"{uid}/part{i:03d}.bin" for i in range(24)), keys
    assert parts == 0, "unfinished multipart uploads left behind"
    # downloads on B carry the bytes
    z = cb.get("/zip/download/" + seg(aid))
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        assert len(zf.namelist()) == 25
