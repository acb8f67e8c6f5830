"""
test_redis_jobs.py - assetd with its job store in Redis (--jobs
$ASSETD_TEST_REDIS_URL, a redis-server started on loopback by
scripts/servers/redis.sh, which scripts/test.sh runs):

- an upload succeeds, and the seed's key UPLOAD_STATUS:<id> in Redis says
  "success" (redis-cli GET), a failed one says exactly what /zip/status
  says ("failed: <reason>"), and the finished job expires after --status-ttl;
- an instance killed with SIGKILL in the middle of a job: a second instance
  on the same Redis (and the same data directory, standing in for shared
  meta and blob stores) takes the job over once its lease runs out
  (?visibility_timeout=2), cleans up and completes it: one asset, every
  file stored once;
- with Redis stopped, POST /zip/upload answers 503 naming Redis, GET
  /zip/status/<id> and /readyz answer 503, and no spool file is left; once
  Redis is back the same process serves both again, the job accepted before
  the stop is still there, and a new upload completes.

Skipped, with the reason, when ASSETD_TEST_REDIS_URL is not set; the outage
test also needs ASSETD_TEST_REDIS_DIR (it stops and restarts that server).
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from e2e_helpers import uniq
from zip_upload_helpers import asset_doc, big_stored_zip, upload, upload_and_wait, start_and_catch_processing, wait_done, zip_bytes

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("ASSETD_TEST_REDIS_URL", "")
REDIS_DIR = os.environ.get("ASSETD_TEST_REDIS_DIR", "")

pytestmark = pytest.mark.skipif(
    not REDIS_URL,
    reason="ASSETD_TEST_REDIS_URL is not set (scripts/test.sh starts a redis-server "
           "with scripts/servers/redis.sh)")


def redis_cli(*args):
    """redis-cli against the test server (the URL without its parameters)."""
    r = subprocess.run(["redis-cli", "-u", REDIS_URL.split("?")[0], *args],
                       capture_output=True, text=True, timeout=20, check=False)
    return r.stdout.strip()


def redis_server(what):
    subprocess.run(["bash", str(REPO / "scripts" / "servers" / "redis.sh"), what, REDIS_DIR],
                   check=True, capture_output=True, timeout=60)


def with_param(url, param):
    return url + ("&" if "?" in url else "?") + param


def small_zip(aid):
    return zip_bytes([("asset.json", asset_doc(aid)), ("data/a.bin", os.urandom(5000))])


def delete_prefixed(prefix):
    keys = redis_cli("--scan", "--pattern", prefix + "*").split()
    for k in keys:
        redis_cli("DEL", k)


def spool_empty(data_dir, timeout=5.0):
    spool = Path(data_dir) / "spool"
    deadline = time.monotonic() + timeout
    while os.listdir(spool) and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.listdir(spool) == []


def test_upload_status_under_the_seed_key(assetd_factory):
    # no prefix: exactly the seed's key UPLOAD_STATUS:<upload_id>
    inst = assetd_factory(args=["--jobs", REDIS_URL, "--status-ttl", "3600"])
    c = inst.client()
    aid = uniq("redis")
    st = upload_and_wait(c, small_zip(aid))
    uid = st["upload_id"]
    made = [uid]
    try:
        assert st["status"] == "success", st
        assert redis_cli("GET", f"UPLOAD_STATUS:{uid}") == "success"
        # the richer fields of the status API sit beside it
        assert redis_cli("HGET", f"assetd:job:{uid}", "asset_id") == aid
        assert st["progress"]["files_done"] == 1
        ttl = int(redis_cli("TTL", f"UPLOAD_STATUS:{uid}"))
        assert 0 < ttl <= 3600, ttl
        assert c.get(f"/assets/{aid}").status_code == 200

        bad = zip_bytes([("asset.json", b"{not json")])
        failed = upload_and_wait(c, bad)
        made.append(failed["upload_id"])
        assert failed["status"].startswith("failed: asset.json is not valid JSON"), failed
        assert redis_cli("GET", f"UPLOAD_STATUS:{failed['upload_id']}") == failed["status"]
    finally:
        for u in made:
            redis_cli("DEL", f"UPLOAD_STATUS:{u}", f"assetd:job:{u}", f"assetd:keys:{u}")
            redis_cli("ZREM", "assetd:done:success", u)
            redis_cli("ZREM", "assetd:done:failed", u)


def stored_files(data_dir, upload_id):
    root = Path(data_dir) / "blobs" / "o" / upload_id
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_killed_instance_job_taken_over_after_lease(assetd_factory, tmp_path):
    prefix = f"e2e-{uuid.uuid4().hex[:12]}:"
    url = with_param(with_param(REDIS_URL, "prefix=" + prefix), "visibility_timeout=2")
    aid = uniq("redis")
    path = big_stored_zip(tmp_path / "big.zip", aid)
    first = assetd_factory(args=["--jobs", url, "--workers", "1"], name="first instance")
    c = first.client()
    try:
        uid, st = start_and_catch_processing(c, path)
        if st["progress"]["files_done"] >= 24:
            pytest.skip("the job finished before it could be killed")
        first.proc.kill()
        first.proc.wait()
        assetd_factory.instances.remove(first)
        assert redis_cli("GET", f"{prefix}UPLOAD_STATUS:{uid}") == "processing"

        second = assetd_factory(args=["--jobs", url, "--workers", "1"], data=first.data_dir,
                                name="second instance")
        c2 = second.client()
        done = wait_done(c2, uid, timeout=120)
        assert done["status"] == "success", done
        assert done["progress"]["files_done"] == 24
        assert len(c2.get(f"/assets/{aid}").json()["data"]["files"]) == 24
        assert len(stored_files(first.data_dir, uid)) == 24
        assert redis_cli("GET", f"{prefix}UPLOAD_STATUS:{uid}") == "success"
        log = second.wait_log(lambda t: "recovered an interrupted upload" in t)
        assert "recovered an interrupted upload" in log and "attempt=2" in log
    finally:
        delete_prefixed(prefix)


@pytest.mark.skipif(not REDIS_DIR, reason="ASSETD_TEST_REDIS_DIR is not set: the outage test "
                                          "needs to stop and restart the test Redis")
def test_redis_outage_503_then_recovery(assetd_factory):
    prefix = f"e2e-{uuid.uuid4().hex[:12]}:"
    inst = assetd_factory(args=["--jobs", with_param(REDIS_URL, "prefix=" + prefix),
                                "--workers", "1"])
    c = inst.client()
    try:
        before = upload_and_wait(c, small_zip(uniq("redis")))
        assert before["status"] == "success", before
        uid = before["upload_id"]

        redis_server("stop")
        try:
            r = upload(c, small_zip(uniq("redis")))
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["success"] is False and body["code"] == "unavailable", body
            assert "redis 127.0.0.1" in body["error"], body
            r = c.get(f"/zip/status/{uid}")
            assert r.status_code == 503, r.text
            assert "redis 127.0.0.1" in r.json()["error"]
            r = c.get("/readyz")
            assert r.status_code == 503, r.text
            # the refused upload's spooled body is not left behind
            assert spool_empty(inst.data_dir)
        finally:
            redis_server("start")

        # the same process, the same handle: everything works again
        r = c.get(f"/zip/status/{uid}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "success"
        assert c.get("/readyz").status_code == 200
        aid = uniq("redis")
        r = upload(c, small_zip(aid))
        assert r.status_code == 202, r.text
        after = wait_done(c, r.json()["upload_id"])
        assert after["status"] == "success", after
        assert redis_cli("GET", f"{prefix}UPLOAD_STATUS:{after['upload_id']}") == "success"
        assert c.get(f"/assets/{aid}").status_code == 200
    finally:
        delete_prefixed(prefix)
