"""
test_s3_backend.py - assetd with its files in S3 (Ceph RGW started by
scripts/servers/ceph.sh, which exports ASSETD_TEST_S3_URL, the endpoint and
the AWS_* credentials; skipped with the reason when they are not set).

One assetd runs with --blobs $ASSETD_TEST_S3_URL under a prefix of this
test's own, with 5 MiB parts so a 12 MiB file goes up as a multipart
upload. A ZIP upload must end in "success"; every file must come back
byte-exact from GET /files (whole, by Range, HEAD, If-None-Match) and in
GET /zip/download (whole and by Range); the objects must be in the bucket
(checked with our own signed requests, curl --aws-sigv4, not through
assetd) with no multipart upload left behind; DELETE of the asset must
remove them; and the secret must appear nowhere in assetd's log.
"""

import re
import io
import os
import subprocess
import urllib.parse
import zipfile

import pytest

from conftest import ASSETD_BIN, free_ports, sanitizer_env
from e2e_helpers import sanitizer_report, uniq
from zip_upload_helpers import asset_doc, sha256, upload_and_wait, zip_bytes

S3_URL = os.environ.get("ASSETD_TEST_S3_URL", "")
ENDPOINT = os.environ.get("ASSETD_TEST_S3_ENDPOINT", "")
ACCESS = os.environ.get("AWS_ACCESS_KEY_ID", "")
SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "")

pytestmark = pytest.mark.skipif(
    not (S3_URL and ENDPOINT and ACCESS and SECRET),
    reason="ASSETD_TEST_S3_URL, ASSETD_TEST_S3_ENDPOINT and AWS_* are not set "
           "(start Ceph RGW: eval \"$(scripts/servers/ceph.sh start DIR)\")")


def bucket_of(url):
    rest = url[len("s3://"):]
    if "@" in rest.split("?")[0]:
        rest = rest.split("@", 1)[1]
    return rest.split("?")[0].split("/")[0]


def with_prefix(url, prefix, extra):
    head, _, query = url.partition("?")
    return f"{head}/{prefix}?{query}&{extra}" if query else f"{head}/{prefix}?{extra}"


def s3_get(query):
    """A signed GET on the bucket (ListObjectsV2, ListMultipartUploads)."""
    out = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--aws-sigv4", "aws:amz:us-east-1:s3",
         "--user", f"{ACCESS}:{SECRET}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
         "-w", "\n%{http_code}", f"{ENDPOINT}/{bucket_of(S3_URL)}?{query}"],
        capture_output=True, timeout=60, check=True).stdout.decode()
    body, _, status = out.rpartition("\n")
    assert status == "200", (query, status, body[:500])
    return body


def objects_under(prefix):
    q = "list-type=2&prefix=" + urllib.parse.quote(prefix + "/", safe="")
    body = s3_get(q)
    keys = []
    for part in body.split("<Key>")[1:]:
        keys.append(part.split("</Key>")[0])
    return keys


def uploads_under(prefix):
    body = s3_get("prefix=" + urllib.parse.quote(prefix + "/", safe="") + "&uploads=")
    return body.count("<Upload>")


def test_zip_upload_files_download_delete_on_s3(assetd_factory):
    prefix = uniq("e2e-s3")
    url = with_prefix(S3_URL, prefix, "part_size=5MiB&multipart_threshold=5MiB")
    inst = assetd_factory(args=["--blobs", url], name="assetd on S3")
    api = inst.client()

    aid = uniq("s3asset")
    big = os.urandom(12 * 1024 * 1024 + 12345)  # over the threshold: multipart
    files = {
        "docs/readme.md": b"# on S3\n",
        "weights/model v1 \u00e9.bin": big,
        "data/100%+plus.csv": b"a,b\n1,2\n" * 1000,
        "empty.txt": b"",
    }
    data = zip_bytes([("asset.json", asset_doc(aid))] + list(files.items()))
    st = upload_and_wait(api, data, timeout=120)
    assert st["status"] == "success", st
    uid = st["upload_id"]

    doc = api.get(f"/assets/{aid}").json()["data"]
    by_name = {f["asset_file_id"]: f for f in doc["files"]}
    assert set(by_name) == set(files)
    for name, content in files.items():
        f = by_name[name]
        assert f["asset_file_metadata"]["size"] == len(content)
        assert f["asset_file_metadata"]["sha256"] == sha256(content)
        path = f["asset_file_url"][len(inst.base):]
        r = api.get(path)
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
        assert r.content == content, name
        etag = r.headers["ETag"]
        assert api.get(path, headers={"If-None-Match": etag}).status_code == 304
        h = api.request("HEAD", path)
        assert h.status_code == 200 and int(h.headers["Content-Length"]) == len(content)
        if len(content) > 300:
            r = api.get(path, headers={"Range": "bytes=100-299"})
            assert r.status_code == 206 and r.content == content[100:300]
            r = api.get(path, headers={"Range": "bytes=-150"})
            assert r.status_code == 206 and r.content == content[-150:]
    # a range across a part boundary (5 MiB) of the multipart object
    path = by_name["weights/model v1 \u00e9.bin"]["asset_file_url"][len(inst.base):]
    lo, hi = 5 * 1024 * 1024 - 1000, 5 * 1024 * 1024 + 999
    r = api.get(path, headers={"Range": f"bytes={lo}-{hi}"})
    assert r.status_code == 206 and r.content == big[lo:hi + 1]

    # the ZIP download, whole and by ranges, byte-exact
    r = api.get(f"/zip/download/{aid}")
    assert r.status_code == 200, r.text[:300]
    whole = r.content
    assert len(whole) == int(r.headers["Content-Length"])
    with zipfile.ZipFile(io.BytesIO(whole)) as z:
        got = {n: z.read(n) for n in z.namelist() if n != "asset.json"}
    assert got == files
    for lo, hi in [(0, 99), (1000, 5 * 1024 * 1024), (len(whole) - 5000, len(whole) - 1)]:
        r = api.get(f"/zip/download/{aid}", headers={"Range": f"bytes={lo}-{hi}"})
        assert r.status_code == 206 and r.content == whole[lo:hi + 1], (lo, hi)

    # the objects are in the bucket, no multipart upload is left
    keys = objects_under(prefix)
    assert sorted(keys) == sorted(f"{prefix}/{uid}/{n}" for n in files), keys
    assert uploads_under(prefix) == 0

    # delete removes them
    r = api.delete(f"/assets/{aid}")
    assert r.status_code == 200, r.text
    assert objects_under(prefix) == []
    assert api.get(path).status_code == 404

    log = inst.log()
    assert SECRET not in log, "the secret key appears in assetd's log"
    assert re.search(r'blobs="s3://[A-Z0-9]*:\*\*\*@', log), "the start line masks the secret"


def test_unreachable_s3_refuses_to_start(tmp_path):
    """An endpoint nobody listens on: assetd exits with the reason (and no
    secret) instead of serving without a store."""
    port, = free_ports(1)
    url = f"s3://{ACCESS}:{SECRET}@{bucket_of(S3_URL)}?endpoint=http://127.0.0.1:1&retries=1"
    p = subprocess.run([str(ASSETD_BIN), "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path),
                        "--blobs", url], capture_output=True, text=True, timeout=60,
                       env=sanitizer_env(), stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "unreachable" in out and "127.0.0.1:1" in out, out[-2000:]
    assert SECRET not in out
    assert not sanitizer_report(out), sanitizer_report(out)
