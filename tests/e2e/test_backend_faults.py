"""
test_backend_faults.py - what a user sees when a backend stops under a
running assetd, and that it recovers when the backend returns, without a
restart of assetd.

PostgreSQL (meta store) stopped: reads and writes answer 503 naming the
meta store, /readyz answers 503, /healthz still 200; started again: the
same process serves reads and writes. (Redis has the same test in
test_redis_jobs.py.)

The server is the one scripts/test.sh starts (scripts/servers/postgres.sh);
its directory comes in ASSETD_TEST_PG_DIR.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from e2e_helpers import err, make_asset, ok, seg, uniq

REPO = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("ASSETD_TEST_PG_URL", "")
PG_DIR = os.environ.get("ASSETD_TEST_PG_DIR", "")

pytestmark = pytest.mark.skipif(
    not PG_URL or not PG_DIR,
    reason="needs ASSETD_TEST_PG_URL and ASSETD_TEST_PG_DIR (scripts/test.sh starts "
           "PostgreSQL with scripts/servers/postgres.sh)")


def postgres(what):
    subprocess.run(["bash", str(REPO / "scripts" / "servers" / "postgres.sh"), what, PG_DIR],
                   check=True, capture_output=True, timeout=120)


def eventually(fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_postgresql_stopped_then_back(assetd_factory):
    url = PG_URL + ("&" if "?" in PG_URL else "?") + f"schema=fault_{uuid.uuid4().hex[:10]}"
    inst = assetd_factory(args=["--meta", url])
    c = inst.client()
    aid = uniq("pgfault")
    ok(c.post("/assets", json=make_asset(aid)), 201)
    stopped = False
    try:
        postgres("stop")
        stopped = True
        msg = err(c.get("/assets/" + seg(aid)), 503, "unavailable")
        assert "PostgreSQL" in msg or "postgres" in msg.lower(), msg
        err(c.post("/assets", json=make_asset(uniq("pgfault"))), 503, "unavailable")
        err(c.post("/query/search", json={"asset_id": aid}), 503, "unavailable")
        r = c.get("/readyz")
        assert r.status_code == 503 and "meta" in r.text, r.text
        assert c.get("/healthz").status_code == 200
    finally:
        if stopped:
            postgres("start")
    # back: the same process serves again, and nothing written before was lost
    eventually(lambda: ok(c.get("/assets/" + seg(aid))))
    ok(c.post("/assets", json=make_asset(uniq("pgfault-after"))), 201)
    assert c.get("/readyz").status_code == 200
    assert inst.alive()
