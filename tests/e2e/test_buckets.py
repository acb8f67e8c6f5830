"""
test_buckets.py - buckets end to end, against a real assetd over HTTP, on
the file blob store and on S3 (Ceph RGW started by scripts/servers/ceph.sh,
which exports ASSETD_TEST_S3_URL, the endpoint and the AWS_* credentials;
the S3 variants are skipped with the reason when they are not set).

What a user checks: the resource (POST/GET/PUT/DELETE /buckets, its status
fields), every bad input answered 4xx naming the field, the policy enforced
on GET /buckets/<name>/files/... (readonly without a token, none refused
without one), 409 on DELETE of a bucket holding assets and the forced
delete, ZIP uploads into a bucket (form field and --default-bucket) read
back through the file URLs and /zip/download, and the heartbeat: a bucket
removed behind assetd's back (BucketNotFound), a store that cannot be
checked (BucketVerificationFailure), a creation that fails and is retried
(BucketCreationFailure), and on S3 the remote bucket policy (set, and
restored when changed behind assetd's back: BucketPolicyHasBeenChanged;
BucketPolicyUpdateFailed when it cannot be set). What is on the S3 side is
checked with our own signed requests (curl --aws-sigv4), not through
assetd. The S3 variants also put the records in PostgreSQL and the jobs in
Redis when ASSETD_TEST_PG_URL / ASSETD_TEST_REDIS_URL are set (as
scripts/test.sh does). Audit lines of bucket changes are asserted.
"""

import io
import json
import os
import re
import shutil
import subprocess
import time
import zipfile

import pytest

from conftest import ASSETD_BIN, sanitizer_env
from e2e_helpers import Client, err, ok, seg, uniq
from test_auth import Authed
from zip_upload_helpers import asset_doc, wait_done, zip_bytes

S3_URL = os.environ.get("ASSETD_TEST_S3_URL", "")
PG_URL = os.environ.get("ASSETD_TEST_PG_URL", "")
REDIS_URL = os.environ.get("ASSETD_TEST_REDIS_URL", "")
ENDPOINT = os.environ.get("ASSETD_TEST_S3_ENDPOINT", "")
ACCESS = os.environ.get("AWS_ACCESS_KEY_ID", "")
SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
HAVE_S3 = bool(S3_URL and ENDPOINT and ACCESS and SECRET)
NO_S3 = ("ASSETD_TEST_S3_URL, ASSETD_TEST_S3_ENDPOINT and AWS_* are not set "
         "(start Ceph RGW: eval \"$(scripts/servers/ceph.sh start DIR)\")")

BACKENDS = ["file", pytest.param("s3", marks=pytest.mark.skipif(not HAVE_S3, reason=NO_S3))]
REMOTE = re.compile(r"^(.+)-[a-z0-9]{8}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# ------------------------------------------------------------------ S3 side

def s3(method, path, body=None, anonymous=False):
    """A request to RGW, signed with the test's credentials (or anonymous);
    returns (status, body bytes)."""
    argv = ["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code}"]
    argv += ["-I"] if method == "HEAD" else ["-X", method]
    if not anonymous:
        argv += ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ACCESS}:{SECRET}",
                 "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    if body is not None:
        argv += ["--data-binary", "@-"]
    out = subprocess.run(argv + [f"{ENDPOINT}/{path}"], input=body, capture_output=True,
                         timeout=60, check=True).stdout
    text, _, status = out.rpartition(b"\n")
    return int(status), text


def s3_policy(remote):
    """The bucket policy RGW holds for remote (None when it has none)."""
    status, body = s3("GET", f"{remote}?policy=")
    if status == 404:
        assert b"NoSuchBucketPolicy" in body, body[:300]
        return None
    assert status == 200, (status, body[:300])
    return json.loads(body)


def anonymous_actions(policy):
    if policy is None:
        return set()
    acts = set()
    for st in policy["Statement"]:
        a = st["Action"]
        acts |= set([a] if isinstance(a, str) else a)
    return acts


def s3_remove_bucket(remote):
    status, body = s3("GET", f"{remote}?list-type=2")
    assert status == 200, body[:300]
    for key in re.findall(rb"<Key>([^<]+)</Key>", body):
        s3("DELETE", f"{remote}/{key.decode()}")
    status, body = s3("DELETE", remote)
    assert status == 204, (status, body[:300])


def s3_keys(remote):
    status, body = s3("GET", f"{remote}?list-type=2")
    assert status == 200, body[:300]
    return sorted(k.decode() for k in re.findall(rb"<Key>([^<]+)</Key>", body))


# ------------------------------------------------------------------ helpers

class Env:
    """One assetd on one backend, with ways to look at the remote side."""

    def __init__(self, factory, backend, args=(), data=None, roles=()):
        self.backend = backend
        extra = list(args)
        if backend == "s3":
            # the production set: S3, and PostgreSQL and Redis when the
            # test script started them (each instance in a schema / key
            # prefix of its own)
            prefix = uniq("e2e-bk")
            head, _, query = S3_URL.partition("?")
            extra += ["--blobs", f"{head}/{prefix}?{query}"]
            tag = prefix.replace("-", "_")
            if PG_URL:
                extra += ["--meta", f"{PG_URL}?schema={tag}"]
            if REDIS_URL:
                extra += ["--jobs", f"{REDIS_URL}?prefix={tag}:"]
        # tokens made with `assetd token create` in the same stores, before it starts
        self.tokens = {}
        for role in roles:
            meta = [a for i, a in enumerate(extra) if i and extra[i - 1] == "--meta"]
            p = subprocess.run([str(ASSETD_BIN), "token", "create", f"{role}-1", role, "--data",
                                str(data)] + (["--meta", meta[0]] if meta else []),
                               capture_output=True, text=True, env=sanitizer_env(), timeout=60)
            assert p.returncode == 0, p.stderr
            self.tokens[role] = p.stdout.strip()
        self.inst = factory(args=extra, data=data if data is not None else True)
        self.api = Client(self.inst.base)

    def blobs_dir(self):
        return self.inst.data_dir / "blobs"

    def remote_exists(self, remote):
        if self.backend == "file":
            return (self.blobs_dir() / "buckets" / remote).is_dir()
        status, _ = s3("HEAD", remote)
        assert status in (200, 404), status
        return status == 200

    def remove_behind_back(self, remote):
        if self.backend == "file":
            shutil.rmtree(self.blobs_dir() / "buckets" / remote)
        else:
            s3_remove_bucket(remote)

    def remote_keys(self, remote):
        if self.backend == "file":
            root = self.blobs_dir() / "buckets" / remote / "o"
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return s3_keys(remote)


def wait_status(client, name, reason, timeout=30.0):
    """Polls GET /buckets/<name> until its status has reason."""
    deadline = time.monotonic() + timeout
    while True:
        doc = ok(client.get(f"/buckets/{name}"))
        if doc["status"]["reason"] == reason:
            return doc
        assert time.monotonic() < deadline, f"bucket {name} never reached {reason}: {doc}"
        time.sleep(0.2)


def upload_into(client, data, bucket=None):
    files = []
    if bucket is not None:
        files.append(("bucket", (None, bucket)))
    files.append(("file", ("b.zip", data, "application/zip")))
    return client.post("/zip/upload", files=files)


def upload_ok(client, data, bucket=None):
    r = upload_into(client, data, bucket)
    assert r.status_code == 202, r.text
    st = wait_done(client, r.json()["upload_id"])
    assert st["status"] == "success", st
    return st


def files_zip(aid, files):
    return zip_bytes([("asset.json", asset_doc(aid))] + list(files.items()))


# ------------------------------------------------------------------ the resource

@pytest.mark.parametrize("backend", BACKENDS)
def test_crud_and_status_fields(assetd_factory, backend):
    env = Env(assetd_factory, backend)
    api = env.api
    name = uniq("crud").lower()[:40]

    doc = ok(api.post("/buckets", json={"name": name}), 201)
    assert doc["name"] == name and doc["region"] == "" and doc["policy"] == "none"
    assert doc["generation"] == 1
    assert ISO.match(doc["created_at"]) and ISO.match(doc["updated_at"])
    st = doc["status"]
    assert st["phase"] == "Ready" and st["reason"] == "BucketCreated", st
    assert st["message"] == "Bucket has been created"
    m = REMOTE.match(st["remoteName"])
    assert m and m.group(1) == name, st["remoteName"]
    assert st["url"] == f"{env.inst.base}/buckets/{name}/files"
    assert ISO.match(st["lastHeartbeatTime"]) and st["observedGeneration"] == 1
    assert env.remote_exists(st["remoteName"])
    if backend == "s3":
        assert s3_policy(st["remoteName"]) is None  # none: no bucket policy

    assert ok(api.get(f"/buckets/{name}")) == doc
    assert name in [b["name"] for b in ok(api.get("/buckets"))]

    # a second bucket with the same name
    err(api.post("/buckets", json={"name": name}), 400, "already_exists", name)

    # a new policy: generation 2, applied, observed
    up = ok(api.put(f"/buckets/{name}", json={"policy": "readonly"}))
    assert up["policy"] == "readonly" and up["generation"] == 2
    assert up["status"]["phase"] == "Ready" and up["status"]["reason"] == "BucketPolicyUpdated"
    assert up["status"]["observedGeneration"] == 2
    assert up["status"]["remoteName"] == st["remoteName"]
    if backend == "s3":
        assert anonymous_actions(s3_policy(st["remoteName"])) == {"s3:GetObject"}
        up = ok(api.put(f"/buckets/{name}", json={"policy": "readwrite"}))
        assert anonymous_actions(s3_policy(st["remoteName"])) == {"s3:GetObject",
                                                                   "s3:PutObject"}
        up = ok(api.put(f"/buckets/{name}", json={"policy": "writeonly"}))
        assert anonymous_actions(s3_policy(st["remoteName"])) == {"s3:PutObject"}
        up = ok(api.put(f"/buckets/{name}", json={"policy": "readonly"}))
    # the same policy again (and the document sent back as it was read) changes nothing
    again = ok(api.put(f"/buckets/{name}", json=up))
    assert again["generation"] == up["generation"]

    ok(api.delete(f"/buckets/{name}"))
    assert not env.remote_exists(st["remoteName"])
    err(api.get(f"/buckets/{name}"), 404, "not_found", name)
    err(api.delete(f"/buckets/{name}"), 404, "not_found")
    assert name not in [b["name"] for b in ok(api.get("/buckets"))]

    # created again: a new remote name, none of the old objects
    doc2 = ok(api.post("/buckets", json={"name": name, "policy": "readwrite"}), 201)
    assert doc2["status"]["remoteName"] != st["remoteName"]
    assert doc2["policy"] == "readwrite" and doc2["status"]["reason"] == "BucketCreated"
    if backend == "s3":
        assert anonymous_actions(s3_policy(doc2["status"]["remoteName"])) == {
            "s3:GetObject", "s3:PutObject"}


def test_bad_inputs_name_the_field(assetd_factory):
    env = Env(assetd_factory, "file")
    api = env.api
    ok(api.post("/buckets", json={"name": "good-one"}), 201)
    cases = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "Upper"}, "name"),
        ({"name": "ab"}, "name"),
        ({"name": "a" * 55}, "name"),
        ({"name": "192.168.0.1"}, "name"),
        ({"name": "a..b"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "ok-name", "policy": "public"}, "policy"),
        ({"name": "ok-name", "policy": 1}, "policy"),
        ({"name": "ok-name", "region": "EU West"}, "region"),
        ({"name": "ok-name", "region": 5}, "region"),
        ({"name": "ok-name", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        msg = err(api.post("/buckets", json=body), 400, "validation_failed")
        assert msg.startswith(field), (body, msg)
    err(api.post("/buckets", json=[]), 400, "validation_failed")
    err(api.post("/buckets", data=b"{nope", headers={"Content-Type": "application/json"}), 400,
        "invalid_json")
    # a 54-byte name is the longest
    ok(api.post("/buckets", json={"name": "b" * 54}), 201)
    # nothing was created by the refused requests
    assert sorted(b["name"] for b in ok(api.get("/buckets"))) == ["b" * 54, "good-one"]

    err(api.put("/buckets/good-one", json={"policy": "everyone"}), 400, "validation_failed",
        "policy")
    err(api.put("/buckets/good-one", json={"region": "eu-west-1"}), 400, "validation_failed",
        "region")
    err(api.put("/buckets/good-one", json={"name": "other"}), 400, "validation_failed", "name")
    err(api.put("/buckets/good-one", json={"size": 3}), 400, "validation_failed", "size")
    err(api.put("/buckets/missing-one", json={"policy": "none"}), 404, "not_found")
    err(api.delete("/buckets/good-one?force=yes"), 400, "bad_request", "force")
    err(api.get("/buckets/NOT_A_NAME"), 404, "not_found")

    # the upload's bucket field
    data = files_zip(uniq("bad-up"), {"a.txt": b"a"})
    err(upload_into(api, data, "no-such-bucket"), 400, "bad_request", "bucket")
    err(upload_into(api, data, ""), 400, "bad_request", "bucket")
    err(upload_into(api, data, "x" * 80), 400, "bad_request", "bucket")
    r = api.post("/zip/upload", files=[("file", ("b.zip", data, "application/zip")),
                                       ("bucket", (None, "good-one"))])
    err(r, 400, "bad_request", "bucket")


# ------------------------------------------------------------------ policies and tokens

@pytest.mark.parametrize("backend", BACKENDS)
def test_policy_decides_who_reads_files(assetd_factory, tmp_path, backend):
    data = tmp_path / "secured"
    data.mkdir()
    env = Env(assetd_factory, backend, data=data, roles=("reader", "writer"))
    toks = env.tokens
    anon = env.api
    reader, writer = Authed(env.inst.base, toks["reader"]), Authed(env.inst.base, toks["writer"])

    # reading buckets needs a reader, changing them a writer
    err(anon.get("/buckets"), 401, "unauthorized")
    err(anon.post("/buckets", json={"name": "pub"}), 401, "unauthorized")
    err(reader.post("/buckets", json={"name": "pub"}), 403, "forbidden", "writer")
    ok(writer.post("/buckets", json={"name": "pub", "policy": "readonly"}), 201)
    ok(writer.post("/buckets", json={"name": "priv"}), 201)
    ok(reader.get("/buckets/pub"))

    content = {"docs/readme.md": b"# public\n", "data/x.bin": os.urandom(5000)}
    urls = {}
    for b in ("pub", "priv"):
        aid = uniq(f"pol-{b}")
        st = upload_ok(writer, files_zip(aid, content), bucket=b)
        doc = ok(reader.get(f"/assets/{seg(aid)}"))
        urls[b] = {f["asset_file_id"]: f["asset_file_url"][len(env.inst.base):]
                   for f in doc["files"]}
        assert urls[b]["docs/readme.md"] == f"/buckets/{b}/files/{st['upload_id']}/docs/readme.md"

    # readonly: anyone; none: a reader
    for name, want in content.items():
        r = anon.get(urls["pub"][name])
        assert r.status_code == 200 and r.content == want, (name, r.status_code, r.text[:200])
        err(anon.get(urls["priv"][name]), 401, "unauthorized")
        r = reader.get(urls["priv"][name])
        assert r.status_code == 200 and r.content == want
    # Range, ETag and HEAD as for /files
    path = urls["pub"]["data/x.bin"]
    r = anon.get(path, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == content["data/x.bin"][100:200]
    etag = anon.get(path).headers["ETag"]
    assert anon.get(path, headers={"If-None-Match": etag}).status_code == 304
    h = anon.request("HEAD", path)
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == 5000
    err(anon.get("/buckets/pub/files/no/such/file"), 404, "not_found")
    err(anon.get("/buckets/nobucket/files/x"), 401, "unauthorized")  # not told without a token
    err(reader.get("/buckets/nobucket/files/x"), 404, "not_found")

    # the policy changes who may read, at once
    for policy, open_ in (("none", False), ("writeonly", False), ("readwrite", True),
                          ("readonly", True)):
        ok(writer.put("/buckets/pub", json={"policy": policy}))
        r = anon.get(urls["pub"]["docs/readme.md"])
        assert r.status_code == (200 if open_ else 401), (policy, r.status_code)

    if backend == "s3":
        # RGW itself now lets anyone read the readonly bucket, and nobody write
        remote = ok(reader.get("/buckets/pub"))["status"]["remoteName"]
        key = urls["pub"]["docs/readme.md"].split("/files/", 1)[1]
        status, body = s3("GET", f"{remote}/{key}", anonymous=True)
        assert status == 200 and body == content["docs/readme.md"]
        status, _ = s3("PUT", f"{remote}/anon.txt", body=b"x", anonymous=True)
        assert status == 403
        remote = ok(reader.get("/buckets/priv"))["status"]["remoteName"]
        status, _ = s3("GET", f"{remote}/{key}", anonymous=True)
        assert status == 403

    # every change is audited with who did it
    err(reader.delete("/buckets/priv"), 403, "forbidden")
    err(writer.delete("/buckets/priv"), 409, "conflict")
    ok(writer.delete("/buckets/priv?force=true"))
    want = [
        ('who="-"', 'action="POST"', 'target="/buckets"', "status=401", "result=refused"),
        ('who="reader-1"', 'action="POST"', 'target="/buckets"', "status=403"),
        ('who="writer-1"', 'action="POST"', 'target="/buckets"', "status=201", 'detail="pub"'),
        ('who="writer-1"', 'action="POST"', 'target="/buckets"', "status=201", 'detail="priv"'),
        ('who="writer-1"', 'action="PUT"', 'target="/buckets/pub"', "status=200",
         'detail="none"'),
        ('who="writer-1"', 'action="PUT"', 'target="/buckets/pub"', "status=200",
         'detail="readonly"'),
        ('who="reader-1"', 'action="DELETE"', 'target="/buckets/priv"', "status=403"),
        ('who="writer-1"', 'action="DELETE"', 'target="/buckets/priv"', "status=409",
         "result=refused"),
        ('who="writer-1"', 'action="DELETE"', 'target="/buckets/priv"', "status=200",
         'detail="force"'),
    ]
    text = env.inst.wait_log(lambda t: 'detail="force"' in t)
    lines = [l for l in text.splitlines() if "msg=audit" in l and "/buckets" in l]
    for parts in want:
        assert any(all(p in l for p in parts) for l in lines), \
            f"no audit line with {parts}:\n" + "\n".join(lines)
    assert not any('action="GET"' in l for l in lines)  # reads are not audited


# ------------------------------------------------------------------ delete

@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_refused_while_in_use_then_forced(assetd_factory, backend):
    env = Env(assetd_factory, backend)
    api = env.api
    doc = ok(api.post("/buckets", json={"name": "busy"}), 201)
    remote = doc["status"]["remoteName"]
    aid = uniq("busy")
    st = upload_ok(api, files_zip(aid, {"a.txt": b"A", "d/b.txt": b"B"}), bucket="busy")
    other = uniq("elsewhere")
    upload_ok(api, files_zip(other, {"c.txt": b"C"}))  # the main store: not in the bucket
    assert env.remote_keys(remote) == sorted([f"{st['upload_id']}/a.txt",
                                              f"{st['upload_id']}/d/b.txt"])

    err(api.delete("/buckets/busy"), 409, "conflict", ["busy", "force=true"])
    assert ok(api.get("/buckets/busy"))["status"]["phase"] == "Ready"
    assert env.remote_exists(remote)
    err(api.delete("/buckets/busy?force=false"), 409, "conflict")

    ok(api.delete("/buckets/busy?force=true"))
    assert not env.remote_exists(remote)
    err(api.get("/buckets/busy"), 404, "not_found")
    err(api.get(f"/assets/{seg(aid)}"), 404, "not_found")  # the asset stored in it went too
    ok(api.get(f"/assets/{seg(other)}"))  # the other one stays

    # objects that no asset names still make a bucket busy
    doc = ok(api.post("/buckets", json={"name": "busy2"}), 201)
    aid = uniq("gone")
    upload_ok(api, files_zip(aid, {"a.txt": b"A"}), bucket="busy2")
    if backend == "file":
        # the asset is deleted through the registry, which removes its files
        ok(api.delete(f"/assets/{seg(aid)}"))
        assert env.remote_keys(doc["status"]["remoteName"]) == []
        ok(api.delete("/buckets/busy2"))  # empty now: no force needed
    else:
        status, _ = s3("PUT", f"{doc['status']['remoteName']}/stray.txt", body=b"s")
        assert status == 200
        ok(api.delete(f"/assets/{seg(aid)}"))
        assert env.remote_keys(doc["status"]["remoteName"]) == ["stray.txt"]
        err(api.delete("/buckets/busy2"), 409, "conflict", "objects")
        ok(api.delete("/buckets/busy2?force=true"))
    assert not env.remote_exists(doc["status"]["remoteName"])


# ------------------------------------------------------------------ uploads

@pytest.mark.parametrize("backend", BACKENDS)
def test_zip_upload_into_buckets(assetd_factory, backend):
    env = Env(assetd_factory, backend, args=["--default-bucket", "uploads"])
    api = env.api
    default = ok(api.get("/buckets/uploads"))  # made at start
    assert default["status"]["phase"] == "Ready" and default["policy"] == "none"
    ok(api.post("/buckets", json={"name": "docs", "policy": "readonly"}), 201)
    docs = ok(api.get("/buckets/docs"))

    # stored, with a 1.5 MiB entry: that one is stored into the bucket
    # while the body arrives (--store-while-uploading)
    content = {"README.md": b"# hi\n", "sub dir/caf\u00e9 100%.txt": b"x" * 3000,
               "big.bin": os.urandom(1_500_000)}
    for bucket, meta in ((None, default), ("docs", docs)):
        aid = uniq("into")
        st = upload_ok(api, zip_bytes([("asset.json", asset_doc(aid))] + list(content.items()),
                                      zipfile.ZIP_STORED), bucket=bucket)
        assert env.inst.wait_log(lambda log: f"upload={st['upload_id']}" in log
                                 and "stored_early=1" in log), "big.bin stored early"
        name = meta["name"]
        doc = ok(api.get(f"/assets/{seg(aid)}"))
        base = f"{env.inst.base}/buckets/{name}/files/{st['upload_id']}/"
        for f in doc["files"]:
            assert f["asset_file_url"].startswith(base), f["asset_file_url"]
            r = api.get(f["asset_file_url"][len(env.inst.base):])
            assert r.status_code == 200 and r.content == content[f["asset_file_id"]]
        assert env.remote_keys(meta["status"]["remoteName"]) == sorted(
            f"{st['upload_id']}/{n}" for n in content)
        # the ZIP download reads them from the bucket
        r = api.get(f"/zip/download/{seg(aid)}")
        assert r.status_code == 200, r.text[:300]
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            got = {n: z.read(n) for n in z.namelist() if n != "asset.json"}
        assert got == content
        lo, hi = 1000, 200_000
        r2 = api.get(f"/zip/download/{seg(aid)}", headers={"Range": f"bytes={lo}-{hi}"})
        assert r2.status_code == 206 and r2.content == r.content[lo:hi + 1]
        # deleting the asset removes its objects from the bucket
        ok(api.delete(f"/assets/{seg(aid)}"))
        assert env.remote_keys(meta["status"]["remoteName"]) == []

    # a job that fails after storing its files leaves nothing in the bucket
    aid = uniq("fails")
    bad = zip_bytes([("asset.json", asset_doc(aid, files=[{"asset_file_id": "not-in-zip"}])),
                     ("a.txt", b"stored, then removed")])
    r = upload_into(api, bad, "docs")
    assert r.status_code == 202, r.text
    st = wait_done(api, r.json()["upload_id"])
    assert st["status"].startswith("failed") and "validation" in st["status"], st
    assert env.remote_keys(docs["status"]["remoteName"]) == []

    # without --default-bucket the main store is used, as before
    plain = Env(assetd_factory, backend)
    aid = uniq("plain")
    st = upload_ok(plain.api, files_zip(aid, {"a.txt": b"a"}))
    doc = ok(plain.api.get(f"/assets/{seg(aid)}"))
    assert doc["files"][0]["asset_file_url"] == \
        f"{plain.inst.base}/files/{st['upload_id']}/a.txt"


@pytest.mark.skipif(not (HAVE_S3 and PG_URL), reason=NO_S3 + "; or ASSETD_TEST_PG_URL is not set")
def test_two_instances_share_buckets(assetd_factory):
    """Two instances on one PostgreSQL and one S3 service, both running the
    heartbeat every second: each sees the other's changes at once, and
    neither undoes them."""
    prefix = uniq("e2e-bk2")
    tag = prefix.replace("-", "_")
    head, _, query = S3_URL.partition("?")
    args = ["--blobs", f"{head}/{prefix}?{query}", "--meta", f"{PG_URL}?schema={tag}",
            "--bucket-check-interval", "1"]
    a = Client(assetd_factory(args=args).base)
    b = Client(assetd_factory(args=args).base)
    doc = ok(a.post("/buckets", json={"name": "shared"}), 201)
    assert ok(b.get("/buckets/shared"))["status"]["remoteName"] == doc["status"]["remoteName"]
    err(b.post("/buckets", json={"name": "shared"}), 400, "already_exists")
    for i, (who, policy) in enumerate([(b, "readonly"), (a, "readwrite"), (b, "none")]):
        up = ok(who.put("/buckets/shared", json={"policy": policy}))
        assert up["generation"] == i + 2 and up["status"]["observedGeneration"] == i + 2
        time.sleep(1.5)  # heartbeats of both run in between
        for c in (a, b):
            seen = ok(c.get("/buckets/shared"))
            assert seen["policy"] == policy and seen["generation"] == i + 2, seen
            assert seen["status"]["phase"] == "Ready", seen
        want = {"readonly": {"s3:GetObject"}, "readwrite": {"s3:GetObject", "s3:PutObject"},
                "none": set()}[policy]
        assert anonymous_actions(s3_policy(doc["status"]["remoteName"])) == want
    ok(b.delete("/buckets/shared"))
    err(a.get("/buckets/shared"), 404, "not_found")
    time.sleep(1.5)  # a heartbeat does not bring it back
    err(a.get("/buckets/shared"), 404, "not_found")


# ------------------------------------------------------------------ the heartbeat

@pytest.mark.parametrize("backend", BACKENDS)
def test_heartbeat_finds_a_bucket_removed_behind_its_back(assetd_factory, backend):
    env = Env(assetd_factory, backend, args=["--bucket-check-interval", "1"])
    api = env.api
    doc = ok(api.post("/buckets", json={"name": "vanishing"}), 201)
    first_beat = doc["status"]["lastHeartbeatTime"]
    env.remove_behind_back(doc["status"]["remoteName"])
    gone = wait_status(api, "vanishing", "BucketNotFound")
    assert gone["status"]["phase"] == "Failed"
    assert doc["status"]["remoteName"] in gone["status"]["message"]
    assert gone["status"]["lastHeartbeatTime"] >= first_beat
    env.inst.wait_log(lambda t: 'bucket=vanishing phase=Failed reason=BucketNotFound' in t)
    # uploads into it are refused while it is not Ready
    err(upload_into(api, files_zip(uniq("nf"), {"a.txt": b"a"}), "vanishing"), 409, "conflict",
        "BucketNotFound")
    # it can still be deleted
    ok(api.delete("/buckets/vanishing"))


def test_heartbeat_verification_failure_and_recovery(assetd_factory):
    """The file store cannot look into its buckets directory (it has become
    a file): BucketVerificationFailure; once it is back, Ready again."""
    env = Env(assetd_factory, "file", args=["--bucket-check-interval", "1"])
    api = env.api
    ok(api.post("/buckets", json={"name": "checked"}), 201)
    buckets = env.blobs_dir() / "buckets"
    moved = env.blobs_dir() / "buckets.away"
    buckets.rename(moved)
    buckets.write_text("not a directory")
    bad = wait_status(api, "checked", "BucketVerificationFailure")
    assert bad["status"]["phase"] == "Failed"
    assert "cannot be verified" in bad["status"]["message"]
    buckets.unlink()
    moved.rename(buckets)
    back = wait_status(api, "checked", "BucketCreated")
    assert back["status"]["phase"] == "Ready"


def test_creation_failure_is_retried(assetd_factory):
    """The file store cannot create the bucket's directory: the bucket is
    stored Failed/BucketCreationFailure and the heartbeat retries."""
    env = Env(assetd_factory, "file", args=["--bucket-check-interval", "1"])
    api = env.api
    buckets = env.blobs_dir() / "buckets"
    if buckets.exists():
        shutil.rmtree(buckets)
    buckets.write_text("in the way")
    doc = ok(api.post("/buckets", json={"name": "later"}), 201)
    assert doc["status"]["phase"] == "Failed", doc
    assert doc["status"]["reason"] == "BucketCreationFailure"
    assert "cannot be created" in doc["status"]["message"]
    err(upload_into(api, files_zip(uniq("cf"), {"a.txt": b"a"}), "later"), 409, "conflict")
    buckets.unlink()
    ready = wait_status(api, "later", "BucketCreated")
    assert ready["status"]["phase"] == "Ready"
    assert ready["status"]["remoteName"] == doc["status"]["remoteName"]
    assert (buckets / doc["status"]["remoteName"]).is_dir()
    env.inst.wait_log(lambda t: "bucket=later phase=Failed reason=BucketCreationFailure" in t)


@pytest.mark.skipif(not HAVE_S3, reason=NO_S3)
def test_s3_region_refused_is_a_creation_failure(assetd_factory):
    env = Env(assetd_factory, "s3")
    doc = ok(env.api.post("/buckets", json={"name": "faraway", "region": "mars-1"}), 201)
    assert doc["region"] == "mars-1"
    assert doc["status"]["phase"] == "Failed"
    assert doc["status"]["reason"] == "BucketCreationFailure"
    assert "InvalidLocationConstraint" in doc["status"]["message"], doc["status"]["message"]
    assert not env.remote_exists(doc["status"]["remoteName"])
    ok(env.api.delete("/buckets/faraway"))


@pytest.mark.skipif(not HAVE_S3, reason=NO_S3)
def test_s3_policy_changed_behind_its_back_is_restored(assetd_factory):
    env = Env(assetd_factory, "s3", args=["--bucket-check-interval", "1"])
    api = env.api
    doc = ok(api.post("/buckets", json={"name": "guarded", "policy": "readonly"}), 201)
    remote = doc["status"]["remoteName"]
    assert anonymous_actions(s3_policy(remote)) == {"s3:GetObject"}
    # someone opens it for writing too
    opened = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ["*"]},
        "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [f"arn:aws:s3:::{remote}/*"]}]}
    status, body = s3("PUT", f"{remote}?policy=", body=json.dumps(opened).encode())
    assert status in (200, 204), body[:300]
    fixed = wait_status(api, "guarded", "BucketPolicyHasBeenChanged")
    assert fixed["status"]["phase"] == "Ready"
    assert anonymous_actions(s3_policy(remote)) == {"s3:GetObject"}
    env.inst.wait_log(
        lambda t: "bucket=guarded phase=Ready reason=BucketPolicyHasBeenChanged" in t)
    # and someone removes it
    status, _ = s3("DELETE", f"{remote}?policy=")
    assert status in (200, 204)
    # the reason stays BucketPolicyHasBeenChanged: wait for the policy itself
    deadline = time.monotonic() + 30
    while anonymous_actions(s3_policy(remote)) != {"s3:GetObject"}:
        assert time.monotonic() < deadline, "the deleted policy was not restored"
        time.sleep(0.2)


@pytest.mark.skipif(not HAVE_S3, reason=NO_S3)
def test_s3_policy_that_cannot_be_set(assetd_factory):
    """The remote bucket is gone before the heartbeat notices (it runs once
    an hour here): the new policy cannot be set."""
    env = Env(assetd_factory, "s3", args=["--bucket-check-interval", "3600"])
    api = env.api
    doc = ok(api.post("/buckets", json={"name": "unsettable", "policy": "readonly"}), 201)
    s3_remove_bucket(doc["status"]["remoteName"])
    up = ok(api.put("/buckets/unsettable", json={"policy": "readwrite"}))
    assert up["policy"] == "readwrite" and up["generation"] == 2
    assert up["status"]["phase"] == "Failed"
    assert up["status"]["reason"] == "BucketPolicyUpdateFailed"
    assert up["status"]["observedGeneration"] == 1
    assert "NoSuchBucket" in up["status"]["message"] or "not found" in up["status"]["message"]
    ok(api.delete("/buckets/unsettable"))
