"""
test_s3_faults.py - the S3 blob store (Ceph RGW) stopped in the middle of a
ZIP upload, and what a user sees then and once it is back.

assetd runs on its embedded meta store (SQLite in the data directory) with
--blobs on the RGW that scripts/test.sh starts (scripts/servers/ceph.sh,
which exports ASSETD_TEST_S3_URL, the endpoint, the AWS_* credentials and
ASSETD_TEST_CEPH_DIR). Only radosgw is stopped and started again
(`ceph.sh stop-rgw` / `start-rgw`): the monitor and the memstore OSD keep
running, so the objects and the multipart uploads assetd left survive and
can be looked for once RGW answers again.

The upload is a stored ZIP of 16 MiB files, each a multipart upload of
5 MiB parts; radosgw is stopped once the job has stored at least one file.
Asserted:
  - the job ends "failed: ..." with a reason naming the storage failure;
  - the asset is not registered;
  - while RGW is down, GET /readyz is 503 and its "backends" object names
    the blob store as down;
  - after start-rgw, /readyz is 200 again (same assetd process), and,
    after a generous wait for assetd's retried cleanup, the bucket has no
    object under the job's prefix and no multipart upload under the
    store's prefix (checked with our own signed requests, curl
    --aws-sigv4, not through assetd);
  - a new upload then succeeds.
RGW is always started again, also when an assertion fails, because the
tests that follow share it.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import sanitizer_report
from e2e_helpers import uniq
from test_s3_backend import ACCESS, ENDPOINT, S3_URL, SECRET, objects_under, uploads_under, with_prefix
from zip_upload_helpers import (asset_doc, big_stored_zip, start_and_catch_processing, upload_and_wait,
                                wait_done, zip_bytes)

REPO = Path(__file__).resolve().parents[2]
CEPH_DIR = os.environ.get("ASSETD_TEST_CEPH_DIR", "")

pytestmark = pytest.mark.skipif(
    not (S3_URL and ENDPOINT and ACCESS and SECRET and CEPH_DIR),
    reason="ASSETD_TEST_S3_URL, ASSETD_TEST_S3_ENDPOINT, AWS_* and ASSETD_TEST_CEPH_DIR are not set "
           "(start Ceph RGW: eval \"$(scripts/servers/ceph.sh start DIR)\")")

CLEANUP_WAIT = 120.0  # seconds for assetd's retried cleanup once RGW is back


def rgw(what):
    p = subprocess.run(["bash", str(REPO / "scripts" / "servers" / "ceph.sh"), what, CEPH_DIR],
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"ceph.sh {what} failed: {p.stderr[-2000:]}"


def eventually(fn, timeout, what):
    """Calls fn until it returns without an AssertionError; after timeout
    seconds the last AssertionError is raised, prefixed with what."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except AssertionError as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} (still not true after {timeout:.0f} s): {e}") from e
            time.sleep(0.5)


def test_rgw_stopped_during_upload(assetd_factory, tmp_path):
    prefix = uniq("e2e-s3fault")
    # small parts, few retries: the failure comes sooner; connect_timeout
    # bounds each attempt while nothing listens
    url = with_prefix(S3_URL, prefix, "part_size=5MiB&multipart_threshold=5MiB&retries=2&connect_timeout=5")
    # the job stores every entry itself (nothing stored while the body
    # arrives), so radosgw can be stopped while the job is storing
    inst = assetd_factory(args=["--blobs", url, "--store-while-uploading", "off"],
                          name="assetd on S3 (fault)")
    api = inst.client()

    aid = uniq("s3fault")
    path = big_stored_zip(tmp_path / "big.zip", aid, nfiles=20, size=16 << 20)
    stopped = False
    try:
        uid, _ = start_and_catch_processing(api, path, timeout=120)
        rgw("stop-rgw")
        stopped = True

        st = wait_done(api, uid, timeout=300)
        assert st["status"] != "success", (
            "the job finished before radosgw was stopped; the archive is too small for this "
            f"machine: {st}")
        reason = st["status"]
        assert reason.startswith("failed: "), st
        assert "storage error" in reason and "S3" in reason, f"the reason does not name S3: {reason}"
        assert "unreachable" in reason or "cannot connect" in reason.lower() or "HTTP 5" in reason, reason
        assert SECRET not in reason

        r = api.get(f"/assets/{aid}")
        assert r.status_code == 404, f"the asset is registered after a failed job: {r.text[:300]}"

        r = api.get("/readyz")
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["success"] is False and "blobs" in body["error"], body
        assert body["backends"]["blobs"] != "ok" and body["backends"]["meta"] == "ok", body
    finally:
        if stopped:
            rgw("start-rgw")

    # back: the same process is ready again
    def ready():
        r = api.get("/readyz")
        assert r.status_code == 200, r.text[:500]
    eventually(ready, 60, "GET /readyz after radosgw came back")

    # nothing of the failed job is left: no objects, no multipart uploads
    def clean():
        keys = objects_under(f"{prefix}/{uid}")
        assert keys == [], f"{len(keys)} objects of the failed job left, e.g. {keys[:3]}"
        n = uploads_under(prefix)
        assert n == 0, f"{n} multipart uploads left under {prefix}/"
    eventually(clean, CLEANUP_WAIT, "the failed job's objects and parts are removed")
    assert api.get(f"/assets/{aid}").status_code == 404

    # and a new upload succeeds, with its files in the bucket
    aid2 = uniq("s3fault-after")
    big = os.urandom(6 << 20)  # over the threshold: multipart
    st = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid2)), ("w.bin", big)]), timeout=120)
    assert st["status"] == "success", st
    assert objects_under(f"{prefix}/{st['upload_id']}") == [f"{prefix}/{st['upload_id']}/w.bin"]
    assert api.get(f"/assets/{aid2}").status_code == 200
    assert inst.alive()
    assert SECRET not in inst.log()



def upload_up_to_second_entry(inst, path, prefix):
    """Starts a raw POST /zip/upload of the archive at path and sends it up
    to the second entry's local header, then waits until the first entry
    is in the bucket (stored while the body arrived). Returns the socket
    and the bytes still to send."""
    data = path.read_bytes()
    second = data.index(b"part001.bin")  # the local header of the second big entry
    part = (b"--q\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.zip\"\r\n"
            b"Content-Type: application/zip\r\n\r\n")
    tail = b"\r\n--q--\r\n"
    head = (b"POST /zip/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=q\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(part) + len(data) + len(tail)) + part)
    s = socket.create_connection(("127.0.0.1", inst.port))
    s.sendall(head + data[:second])
    deadline = time.monotonic() + 60
    while len(objects_under(prefix)) < 1:
        if time.monotonic() > deadline:
            s.close()
            raise AssertionError("the first entry was not stored while the body arrived")
        time.sleep(0.2)
    return s, data[second:] + tail


def test_rgw_stopped_while_the_body_arrives(assetd_factory, tmp_path):
    """Entries are stored into S3 while the body arrives
    (--store-while-uploading, the default): radosgw stopped between two of
    them fails the upload itself, with the storage error as the answer, and
    nothing is left in the bucket once it is back."""
    prefix = uniq("e2e-s3body")
    url = with_prefix(S3_URL, prefix, "part_size=5MiB&multipart_threshold=5MiB&retries=2&connect_timeout=5")
    inst = assetd_factory(args=["--blobs", url], name="assetd on S3 (fault in the body)")
    path = big_stored_zip(tmp_path / "big.zip", uniq("s3body"), nfiles=3, size=8 << 20)
    s, rest = upload_up_to_second_entry(inst, path, prefix)
    stopped = False
    try:
        rgw("stop-rgw")
        stopped = True
        s.settimeout(300)
        s.sendall(rest)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        status = answer.split(b"\r\n", 1)[0]
        assert b" 503 " in status or b" 500 " in status, answer[:500]
        assert b"storage error" in answer and b"S3" in answer, answer[:500]
        assert SECRET.encode() not in answer
    finally:
        s.close()
        if stopped:
            rgw("start-rgw")

    def clean():
        keys = objects_under(prefix)
        assert keys == [], f"{len(keys)} objects of the failed upload left, e.g. {keys[:3]}"
        n = uploads_under(prefix)
        assert n == 0, f"{n} multipart uploads left under {prefix}/"
    eventually(clean, CLEANUP_WAIT, "what the failed upload stored is removed")
    assert Path(inst.data_dir, "spool").exists() and os.listdir(Path(inst.data_dir, "spool")) == []
    assert inst.alive()


def test_sigterm_while_an_upload_waits_for_rgw(assetd_factory, tmp_path):
    """An upload whose thread is stuck on a frozen radosgw fills its ring,
    so its request is suspended (libmicrohttpd reads no more of it). SIGTERM
    then must still stop assetd cleanly (libmicrohttpd aborts when stopped
    with a suspended connection): the request ends with 503 or a closed
    connection, the exit status is 0, and once radosgw is back a restart
    removes what the upload had stored (its manifest was kept). radosgw is
    frozen (SIGSTOP: connections are accepted, nothing is answered) so the
    S3 requests hang until stall_timeout instead of failing at once."""
    prefix = uniq("e2e-s3term")
    url = with_prefix(S3_URL, prefix,
                      "part_size=5MiB&multipart_threshold=5MiB&retries=0&connect_timeout=3&stall_timeout=8")
    inst = assetd_factory(args=["--blobs", url, "--shutdown-grace", "1"], name="assetd on S3 (SIGTERM)")
    rgw_pid = int(Path(CEPH_DIR, "pids", "rgw").read_text())
    # entries bigger than what the S3 writer buffers (parts in flight) and
    # the socket holds together
    path = big_stored_zip(tmp_path / "big.zip", uniq("s3term"), nfiles=3, size=48 << 20)
    s, rest = upload_up_to_second_entry(inst, path, prefix)
    stopped = False
    try:
        os.kill(rgw_pid, signal.SIGSTOP)
        stopped = True
        # more than the ring holds: the upload's thread waits on radosgw,
        # the ring fills, the request is suspended and the socket backs up
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sent < len(rest):
            try:
                sent += s.send(rest[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.05)
        assert sent < len(rest), "the whole body was taken although the store was stuck"
        # the stop waits for the upload's thread, which waits (stall_timeout)
        # for the frozen radosgw to answer its part, then its DELETE
        inst.signal(signal.SIGTERM)
        rc = inst.wait_exit(timeout=90)
        assert rc == 0, f"exit status {rc} after SIGTERM:\n" + "\n".join(inst.log().splitlines()[-30:])
        assert not sanitizer_report(inst.log()), sanitizer_report(inst.log())
    finally:
        s.close()
        if stopped:
            os.kill(rgw_pid, signal.SIGCONT)
    assert any(f.endswith(".spec") for f in os.listdir(Path(inst.data_dir, "spool"))), \
        "the manifest stays while an object could not be removed"
    assetd_factory.instances.remove(inst)
    again = assetd_factory(args=["--blobs", url], data=inst.data_dir, name="assetd on S3 (after SIGTERM)")

    def clean():
        keys = objects_under(prefix)
        assert keys == [], f"{len(keys)} objects of the cut upload left, e.g. {keys[:3]}"
    eventually(clean, CLEANUP_WAIT, "the start-up sweep removes what the cut upload stored")
    assert os.listdir(Path(inst.data_dir, "spool")) == []
    assert again.alive()
