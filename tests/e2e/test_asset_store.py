"""
test_asset_store.py - assets pulled from a URL (the asset store, issue 6):
a real assetd and the local source/webhook server tests/servers/assetsrv.py,
both on loopback.

Every phase and reason of the controller is reached and asserted here:
Pending (the intermediate reasons Pulled, Mutated, MetadataExtracted and
Cleaned, read from the one log line each status change writes, and
BucketNotReady from the status), Ready/Uploaded, and Failed with
PullingFailed, ValidationFailed, ValidationError, MutationFailed,
MutationError, MetadataExtractionFailed, UploadFailed, MissingContent,
BucketError and CleanupError.
BucketError and CleanupError need a bucket that cannot be read: the tests
make one by overwriting its record in the embedded SQLite meta store with
something that is not a bucket (a store fault injected from outside, the
way a damaged or foreign record would look).

Files are read back through their asset_file_url (the bucket's files
route), and the registry queries, GraphQL and /zip/download must show the
asset like any other. The core flow also runs on PostgreSQL + Redis (+ Ceph
RGW when ASSETD_TEST_S3_URL is set), the servers scripts/test.sh starts;
without them that variant skips and says why.
"""

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.parse
import uuid
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import start_instance
from e2e_helpers import Client, ok, seg, uniq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "servers"))
import assetsrv as srvmod  # noqa: E402  (the fixtures' source of truth)

PG_URL = os.environ.get("ASSETD_TEST_PG_URL", "")
REDIS_URL = os.environ.get("ASSETD_TEST_REDIS_URL", "")
S3_URL = os.environ.get("ASSETD_TEST_S3_URL", "")

DOCS = sorted(srvmod.DOCS_TREE)
WAIT = 60.0


def _bytes(v):
    return v.encode() if isinstance(v, str) else v


# ---------------------------------------------------------------- servers

@pytest.fixture(scope="module")
def srv(assetsrv):
    """tests/servers/assetsrv.py (the session's `assetsrv` fixture)."""
    return assetsrv


def store_args(srv, *extra):
    return ["--source-allow", "127.0.0.1/32", "--webhook-allow", "127.0.0.1/32",
            "--asset-check-interval", "1", "--webhook-timeout", "2",
            "--zip-max-entries", "1000",
            "--service-url-template", srv.service_template,
            *extra]


@pytest.fixture(scope="module")
def store(tmp_path_factory, srv):
    """One assetd for this module's tests, with the bucket "docs" (readonly)."""
    inst = start_instance(tmp_path_factory.mktemp("assetd-store"), "asset store server",
                          args=store_args(srv))
    c = inst.client()
    r = c.post("/buckets", json={"name": "docs", "policy": "readonly"})
    assert r.status_code == 201, r.text
    yield inst
    c.close()
    problems = inst.check_clean_exit()
    assert not problems, "\n".join(problems)


@pytest.fixture
def c(store):
    cl = store.client()
    yield cl
    cl.close()


# ---------------------------------------------------------------- helpers

def asset(aid, url, mode="package", bucket="docs", **source):
    return {"asset_id": aid, "source": {"url": url, "mode": mode, "bucket": bucket, **source}}


def get_doc(c, aid):
    return ok(c.get("/assets/" + seg(aid)))


def wait_for(c, aid, pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        doc = get_doc(c, aid)
        if pred(doc):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"{aid}: {what} not reached in {timeout} s; last: "
                         f"{json.dumps(doc.get('status') if doc else None)}")


def wait_done(c, aid, gen=1, timeout=WAIT):
    """Waits for phase Ready or Failed at generation gen."""
    return wait_for(c, aid, lambda d: d.get("generation") == gen
                    and d["status"].get("observedGeneration") == gen
                    and d["status"]["phase"] in ("Ready", "Failed"), "Ready or Failed",
                    timeout)


def expect(doc, phase, reason, *fragments):
    st = doc["status"]
    assert (st["phase"], st["reason"]) == (phase, reason), st
    for f in fragments:
        assert f in st["message"], (f, st["message"])
    return st


def reasons_logged(inst, aid, gen=None):
    """The (phase, reason) of every status line logged for asset aid."""
    out = []
    pat = re.compile(r'msg="asset status" asset="([^"]*)" generation=(\d+) phase=(\w+) '
                     r'reason=(\w+|"") message="([^"]*)"')
    for m in pat.finditer(inst.log()):
        if m.group(1) == aid and (gen is None or int(m.group(2)) == gen):
            out.append((m.group(3), m.group(4)))
    return out


def read_url(url, **kw):
    s = requests.Session()
    s.trust_env = False
    return s.get(url, timeout=30, **kw)


def bucket_dir(inst, bucket):
    """The file store directory of a bucket's objects (embedded stores)."""
    remote = ok(inst.client().get("/buckets/" + bucket))["status"]["remoteName"]
    return Path(inst.data_dir) / "blobs" / "buckets" / remote / "o"


def objects(inst, bucket, aid):
    root = bucket_dir(inst, bucket) / aid
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def spool_empty(inst):
    spool = Path(inst.data_dir) / "spool"
    return not spool.exists() or os.listdir(spool) == []


# ---------------------------------------------------------------- single files and packages

def test_single_file_is_pulled_and_served(store, c, srv):
    aid = uniq("single")
    url = srv.url("/files/hello.txt")
    created = ok(c.post("/assets", json=asset(aid, url, mode="single",
                                              displayName="Hello")), 201)
    # the registry fields are filled from the source; the controller owns status
    assert created["asset_uri"] == url
    assert created["asset_version"] == "1"
    assert created["generation"] == 1
    assert created["status"]["phase"] == "Pending"
    assert created["status"]["message"] == "waiting for the controller"
    doc = wait_done(c, aid)
    st = expect(doc, "Ready", "Uploaded", "uploaded")
    assert st["observedGeneration"] == 1
    assert st["assetRef"]["baseUrl"].endswith("/buckets/docs/files/" + aid)
    assert [f["name"] for f in st["assetRef"]["files"]] == ["hello.txt"]
    assert doc["asset_file_ids"] == ["hello.txt"]
    f = doc["files"][0]
    assert f["asset_file_url"] == st["assetRef"]["baseUrl"] + "/hello.txt"
    assert f["asset_file_mime_type"].startswith("text/plain")
    assert f["asset_file_metadata"]["size"] == len(b"Hello from assetsrv.\n")
    assert len(f["asset_file_metadata"]["sha256"]) == 64
    assert doc["source"]["displayName"] == "Hello"
    # served from the readonly bucket without a token
    r = read_url(f["asset_file_url"])
    assert r.status_code == 200 and r.content == b"Hello from assetsrv.\n"
    assert objects(store, "docs", aid) == ["hello.txt"]
    # Pulled was written on the way, then Uploaded
    seen = reasons_logged(store, aid)
    assert ("Pending", "Pulled") in seen and seen[-1] == ("Ready", "Uploaded"), seen
    assert spool_empty(store)


@pytest.mark.parametrize("name", ["docs.zip", "docs.tar", "docs.tar.gz", "docs.tgz",
                                  "docs.tar.bz2", "docs.tar.xz"])
def test_every_package_flavour_is_unpacked(store, c, srv, name):
    aid = uniq("pkg")
    c.create(asset(aid, srv.url("/files/" + name)))
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    assert sorted(doc["asset_file_ids"]) == DOCS
    for f in doc["files"]:
        r = read_url(f["asset_file_url"])
        assert r.status_code == 200, f["asset_file_url"]
        assert r.content == _bytes(srvmod.DOCS_TREE[f["asset_file_id"]]), f["asset_file_id"]
    png = next(f for f in doc["files"] if f["asset_file_id"] == "img/logo.png")
    assert png["asset_file_mime_type"] == "image/png"
    assert objects(store, "docs", aid) == DOCS


def test_filter_selects_files(store, c, srv):
    aid = uniq("filter")
    c.create(asset(aid, srv.url("/files/docs.tar.gz"), filter=r"^docs/.*\.md$"))
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    assert sorted(doc["asset_file_ids"]) == ["docs/a.md", "docs/b.md", "docs/nested/c.md"]
    assert objects(store, "docs", aid) == ["docs/a.md", "docs/b.md", "docs/nested/c.md"]


# ---------------------------------------------------------------- webhooks

def test_validation_mutation_metadata_pass(store, c, srv):
    aid = uniq("hooks")
    src = asset(aid, srv.url("/files/docs.zip"), filter=r"\.md$",
                validationWebhookService=[{"url": srv.url("/validate"),
                                           "parameters": {"mode": "auto", "k": [1]}}],
                mutationWebhookService=[{"url": srv.url("/mutate"), "filter": "^README"}],
                metadataWebhookService=[{"url": srv.url("/metadata")}])
    c.create(src)
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    files = {f["asset_file_id"]: f for f in doc["files"]}
    assert sorted(files) == ["README.md", "docs/a.md", "docs/b.md", "docs/nested/c.md"]
    # the mutation service changed README.md only
    readme = read_url(files["README.md"]["asset_file_url"]).text
    assert readme == srvmod.DOCS_TREE["README.md"] + srvmod.MUTATION_MARKER + "\n"
    assert read_url(files["docs/a.md"]["asset_file_url"]).text == srvmod.DOCS_TREE["docs/a.md"]
    # metadata from the front matter, in the files and in assetRef
    assert files["docs/a.md"]["asset_file_metadata"]["title"] == "Page A"
    assert files["README.md"]["asset_file_metadata"]["title"] == "Readme"
    ref = {f["name"]: f["metadata"] for f in doc["status"]["assetRef"]["files"]}
    assert ref["docs/b.md"]["title"] == "Page B"
    assert ref["docs/nested/c.md"]["length"] == len(srvmod.DOCS_TREE["docs/nested/c.md"])
    seen = reasons_logged(store, aid)
    for r in [("Pending", "Pulled"), ("Pending", "Mutated"), ("Pending", "MetadataExtracted"),
              ("Ready", "Uploaded")]:
        assert r in seen, (r, seen)
    # the validation service saw each selected file once, with the parameters
    calls = [q for q in srv.requests("validate") if q["body"]
             and q["body"].get("parameters", {}).get("k") == [1]]
    contents = sorted(q["body"]["content"] for q in calls)
    assert len(calls) >= 4 and srvmod.DOCS_TREE["docs/b.md"] in contents


def test_validation_failed_keeps_every_message(store, c, srv):
    aid = uniq("vfail")
    c.create(asset(aid, srv.url("/files/docs.tar.gz"), filter=r"^docs/a\.md$",
                   validationWebhookService=[
                       {"url": srv.url("/validate/fail?message=first+service+says+no")},
                       {"url": srv.url("/validate/fail-text")},
                       {"url": srv.url("/validate/pass")},
                   ]))
    doc = wait_done(c, aid)
    st = expect(doc, "Failed", "ValidationFailed", "first service says no",
                "refused in plain text")
    assert "docs/a.md" in st["message"]
    assert doc["asset_file_ids"] == [] and objects(store, "docs", aid) == []
    # every service was called, also after the first refused
    paths = [q["path"] for q in srv.requests("validate")]
    assert "/validate/pass" in paths and "/validate/fail-text" in paths
    assert spool_empty(store)


def test_validation_error_and_timeout(store, c, srv):
    aid = uniq("verr")
    c.create(asset(aid, srv.url("/files/page.md"), mode="single",
                   validationWebhookService=[{"url": srv.url("/validate/error")}]))
    expect(wait_done(c, aid), "Failed", "ValidationError", "page.md")
    aid = uniq("vslow")
    c.create(asset(aid, srv.url("/files/page.md"), mode="single",
                   validationWebhookService=[{"url": srv.url("/validate/slow?delay=6")}]))
    st = expect(wait_done(c, aid), "Failed", "ValidationError")
    assert "time" in st["message"].lower(), st["message"]


def test_service_given_by_name_goes_through_the_template(store, c, srv):
    aid = uniq("svc")
    c.create(asset(aid, srv.url("/files/page.md"), mode="single",
                   validationWebhookService=[{"name": "checker", "namespace": "team",
                                              "endpoint": "/validate"}]))
    expect(wait_done(c, aid), "Ready", "Uploaded")
    assert any(q["namespace"] == "team" and q["name"] == "checker"
               for q in srv.requests("validate"))


@pytest.mark.parametrize("mode,reason", [("fail", "MutationFailed"), ("error", "MutationError")])
def test_mutation_failures(store, c, srv, mode, reason):
    aid = uniq("mut")
    c.create(asset(aid, srv.url("/files/docs.tar.xz"), filter=r"\.md$",
                   mutationWebhookService=[{"url": srv.url("/mutate/" + mode)}]))
    expect(wait_done(c, aid), "Failed", reason)
    assert objects(store, "docs", aid) == []


def test_mutation_304_leaves_content(store, c, srv):
    aid = uniq("mut304")
    c.create(asset(aid, srv.url("/files/page.md"), mode="single",
                   mutationWebhookService=[{"url": srv.url("/mutate/same")}]))
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    assert read_url(doc["files"][0]["asset_file_url"]).text == srvmod.DOCS_TREE["docs/a.md"]
    assert ("Pending", "Mutated") in reasons_logged(store, aid)


def test_metadata_failure(store, c, srv):
    aid = uniq("meta")
    c.create(asset(aid, srv.url("/files/docs.tgz"), filter=r"\.md$",
                   metadataWebhookService=[{"url": srv.url("/metadata/malformed")}]))
    expect(wait_done(c, aid), "Failed", "MetadataExtractionFailed")
    assert objects(store, "docs", aid) == []


# ---------------------------------------------------------------- failures before storing

def test_pulling_failed(store, c, srv):
    aid = uniq("pull404")
    c.create(asset(aid, srv.url("/status/404"), mode="single"))
    expect(wait_done(c, aid), "Failed", "PullingFailed", "404")
    aid = uniq("notpkg")
    c.create(asset(aid, srv.url("/files/hello.txt"), mode="package"))
    expect(wait_done(c, aid), "Failed", "PullingFailed", "unpack")


@pytest.mark.parametrize("name,why", [
    ("evil-dotdot.zip", ".."), ("evil-dotdot.tar.gz", ".."),
    ("evil-abs.zip", "entry"), ("evil-abs.tar.gz", "entry"),
    ("evil-symlink.zip", "symbolic link"), ("evil-symlink.tar.gz", "symbolic link"),
    ("bomb.zip", "ratio"), ("bomb.tar.gz", "ratio"),
    ("many.zip", "entries"), ("many.tar.gz", "entries"),
])
def test_hostile_archives_fail_and_leave_nothing(store, c, srv, name, why):
    aid = uniq("evil")
    c.create(asset(aid, srv.url("/files/" + name)))
    expect(wait_done(c, aid), "Failed", "PullingFailed", why)
    assert objects(store, "docs", aid) == []
    assert spool_empty(store)


def test_upload_failed(store, c, srv):
    # a name the archive rules accept (803 bytes) that cannot be a blob key
    # once the asset id is in front of it (over 1024 bytes)
    long_name = "/".join(["d" * 200] * 4)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"long\n"
        info = tarfile.TarInfo(long_name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    srv.put_file("long-name.tar", buf.getvalue())
    aid = uniq("upfail") + "-" + "x" * 230
    c.create(asset(aid, srv.url("/files/long-name.tar")))
    expect(wait_done(c, aid), "Failed", "UploadFailed", "cannot be stored")


# ---------------------------------------------------------------- lifecycle

def test_bucket_not_ready_then_ready(store, c, srv):
    bucket = "later-" + uuid.uuid4().hex[:8]
    aid = uniq("nobucket")
    c.create(asset(aid, srv.url("/files/hello.txt"), mode="single", bucket=bucket))
    doc = wait_for(c, aid, lambda d: d["status"]["reason"] == "BucketNotReady", "BucketNotReady")
    st = expect(doc, "Pending", "BucketNotReady", bucket)
    assert st["nextRetry"] and st["observedGeneration"] == 1
    ok(c.post("/buckets", json={"name": bucket, "policy": "readonly"}), 201)
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    assert read_url(doc["files"][0]["asset_file_url"]).content == b"Hello from assetsrv.\n"


def damage_bucket_record(inst, bucket):
    """Overwrites bucket's record in the embedded SQLite meta store with a
    JSON value that is not an object: reading the bucket then fails."""
    con = sqlite3.connect(str(Path(inst.data_dir) / "registry.db"), timeout=30)
    try:
        n = con.execute("UPDATE records SET doc = '[\"damaged\"]' WHERE ns = 'buckets' AND key = ?",
                        (bucket,)).rowcount
        con.commit()
    finally:
        con.close()
    assert n == 1, bucket


def test_bucket_error(store, c, srv):
    bucket = "broken-" + uuid.uuid4().hex[:8]
    ok(c.post("/buckets", json={"name": bucket}), 201)
    damage_bucket_record(store, bucket)
    aid = uniq("bucketerr")
    c.create(asset(aid, srv.url("/files/hello.txt"), mode="single", bucket=bucket))
    expect(wait_done(c, aid), "Failed", "BucketError", "not a JSON object")


def test_cleanup_error(store, c, srv):
    bucket = "gone-" + uuid.uuid4().hex[:8]
    ok(c.post("/buckets", json={"name": bucket}), 201)
    aid = uniq("cleanerr")
    c.create(asset(aid, srv.url("/files/hello.txt"), mode="single", bucket=bucket))
    expect(wait_done(c, aid), "Ready", "Uploaded")
    # the content's bucket can no longer be read when the spec moves the asset
    damage_bucket_record(store, bucket)
    ok(c.put("/assets/" + seg(aid), json={"source": {
        "url": srv.url("/files/page.md"), "mode": "single", "bucket": "docs"}}))
    st = expect(wait_done(c, aid, gen=2), "Failed", "CleanupError", bucket)
    # what it could not remove is still listed, so a later change can retry
    assert [f["name"] for f in st["assetRef"]["files"]] == ["hello.txt"]


def test_spec_change_cleans_and_runs_again(store, c, srv):
    aid = uniq("change")
    c.create(asset(aid, srv.url("/files/docs.tar.bz2"), filter=r"\.md$"))
    old = wait_done(c, aid)
    expect(old, "Ready", "Uploaded")
    old_urls = [f["asset_file_url"] for f in old["files"]]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", old["created_at"]), old
    # a client's generation, status and created_at are ignored; source changes bump it
    r = ok(c.put("/assets/" + seg(aid), json={
        "source": {"url": srv.url("/files/docs.zip"), "mode": "package", "bucket": "docs",
                   "filter": r"\.(yaml|png)$"},
        "generation": 99, "status": {"phase": "Ready"}, "created_at": "1999-01-01T00:00:00Z"}))
    assert r["generation"] == 2 and r["status"]["phase"] == "Pending"
    assert r["created_at"] == old["created_at"]
    assert r["asset_uri"] == srv.url("/files/docs.zip")
    doc = wait_done(c, aid, gen=2)
    expect(doc, "Ready", "Uploaded")
    assert sorted(doc["asset_file_ids"]) == ["api/openapi.yaml", "img/logo.png"]
    assert ("Pending", "Cleaned") in reasons_logged(store, aid, gen=2)
    for u in old_urls:
        assert read_url(u).status_code == 404, u
    for f in doc["files"]:
        assert read_url(f["asset_file_url"]).content == _bytes(
            srvmod.DOCS_TREE[f["asset_file_id"]])
    assert objects(store, "docs", aid) == ["api/openapi.yaml", "img/logo.png"]
    # an update that leaves the source alone keeps the generation and status
    r = ok(c.put("/assets/" + seg(aid), json={"asset_brief_description": "same source"}))
    assert r["generation"] == 2 and r["status"]["phase"] == "Ready"


def test_spec_change_during_a_run(store, c, srv):
    # generation 1 pulls slowly (about 3 s); generation 2 arrives meanwhile
    aid = uniq("race")
    c.create(asset(aid, srv.url("/slow?bytes=15&delay=0.2"), mode="single"))
    deadline = time.monotonic() + 10  # until the pull has begun
    while not any(q["path"] == "/slow" for q in srv.requests()):
        assert time.monotonic() < deadline, "the source was never requested"
        time.sleep(0.05)
    ok(c.put("/assets/" + seg(aid), json={"source": {
        "url": srv.url("/files/hello.txt"), "mode": "single", "bucket": "docs"}}))
    doc = wait_done(c, aid, gen=2)
    expect(doc, "Ready", "Uploaded")
    assert doc["asset_file_ids"] == ["hello.txt"]
    # the stale run wrote nothing over generation 2 and left nothing behind
    assert all(g == 2 for g in [int(m) for m in re.findall(
        r'asset="%s" generation=(\d+) phase=Ready' % re.escape(aid), store.log())])
    assert objects(store, "docs", aid) == ["hello.txt"]
    assert read_url(doc["files"][0]["asset_file_url"]).content == b"Hello from assetsrv.\n"
    assert re.search(r'msg="asset run is stale; discarding it" asset="%s" generation=1'
                     % re.escape(aid), store.log())


def test_delete_removes_the_content(store, c, srv):
    aid = uniq("del")
    c.create(asset(aid, srv.url("/files/docs.tar"), filter=r"\.md$"))
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    assert objects(store, "docs", aid)
    ok(c.delete("/assets/" + seg(aid)))
    assert objects(store, "docs", aid) == []
    for f in doc["files"]:
        assert read_url(f["asset_file_url"]).status_code == 404


def test_bucket_holding_assets_is_kept_unless_forced(store, c, srv):
    bucket = "held-" + uuid.uuid4().hex[:8]
    ok(c.post("/buckets", json={"name": bucket, "policy": "readonly"}), 201)
    aid = uniq("held")
    c.create(asset(aid, srv.url("/files/docs.zip"), bucket=bucket, filter=r"\.md$"))
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    r = c.delete("/buckets/" + bucket)
    assert r.status_code == 409 and r.json()["code"] == "conflict", r.text
    ok(c.delete("/buckets/" + bucket + "?force=true"))
    assert c.get("/assets/" + seg(aid)).status_code == 404
    for f in doc["files"]:
        assert read_url(f["asset_file_url"]).status_code == 404


def test_missing_content_is_detected(store, c, srv):
    aid = uniq("missing")
    c.create(asset(aid, srv.url("/files/docs.zip"), filter=r"^docs/"))
    expect(wait_done(c, aid), "Ready", "Uploaded")
    (bucket_dir(store, "docs") / aid / "docs" / "b.md").unlink()
    doc = wait_for(c, aid, lambda d: d["status"]["phase"] == "Failed", "MissingContent")
    expect(doc, "Failed", "MissingContent", "docs/b.md")


def test_source_is_validated(c):
    r = c.post("/assets", json={"asset_id": uniq("bad"), "source": {
        "url": "ftp://x/y", "mode": "single", "bucket": "docs"}})
    assert r.status_code == 400 and "source.url" in r.json()["error"], r.text
    r = c.post("/assets", json={"asset_id": uniq("bad"), "source": {
        "url": "http://x/y", "mode": "tarball", "bucket": "docs"}})
    assert r.status_code == 400 and "source.mode" in r.json()["error"], r.text
    r = c.post("/assets", json={"asset_id": uniq("bad"), "source": {
        "url": "http://x/y", "mode": "single", "bucket": "docs", "filter": "("}})
    assert r.status_code == 400 and "source.filter" in r.json()["error"], r.text


def test_visible_to_queries_graphql_and_zip_download(store, c, srv):
    aid = uniq("visible")
    c.create(asset(aid, srv.url("/files/docs.tar.gz"), filter=r"\.md$"))
    doc = wait_done(c, aid)
    expect(doc, "Ready", "Uploaded")
    assert ok(c.get("/query/by-id/" + seg(aid)))["asset_file_ids"] == doc["asset_file_ids"]
    assert c.search_ids({"asset_id": aid}) == [aid]
    # the asset store's fields can be searched like any other
    assert c.search_ids({"asset_id": aid, "status.phase": "Ready",
                         "source.bucket": "docs"}) == [aid]
    q = '{ getAssetById(assetId: "%s") { assetId assetFileIds } }' % aid
    g = c.post("/graphql", json={"query": q})
    assert g.status_code == 200, g.text
    assert sorted(g.json()["data"]["getAssetById"]["assetFileIds"]) == sorted(doc["asset_file_ids"])
    z = c.get("/zip/download/" + seg(aid))
    assert z.status_code == 200, z.text[:300]
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        for name in doc["asset_file_ids"]:
            assert zf.read(name) == _bytes(srvmod.DOCS_TREE[name]), name


# ---------------------------------------------------------------- the core flow on every backend

BACKENDS = ["embedded", pytest.param("postgresql+redis", marks=pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="needs ASSETD_TEST_PG_URL and ASSETD_TEST_REDIS_URL (scripts/test.sh starts "
           "PostgreSQL, Redis and Ceph RGW with scripts/servers/*.sh)"))]


def backend_args(backend, tmp_path):
    if backend == "embedded":
        return []
    tag = uuid.uuid4().hex[:10]
    args = ["--meta", PG_URL + ("&" if "?" in PG_URL else "?") + f"schema=e2e_store_{tag}",
            "--jobs", REDIS_URL + ("&" if "?" in REDIS_URL else "?") + f"prefix=e2e-store-{tag}:"]
    if S3_URL:
        from test_s3_backend import with_prefix
        args += ["--blobs", with_prefix(S3_URL, f"store-{tag}", "part_size=5MiB")]
    return args


def remove_object(inst, bucket, key):
    """Deletes one object of a bucket behind assetd's back."""
    if not S3_URL or "--meta" not in inst.args:
        (bucket_dir(inst, bucket) / key).unlink()
        return
    from test_s3_backend import ENDPOINT, ACCESS, SECRET
    remote = ok(inst.client().get("/buckets/" + bucket))["status"]["remoteName"]
    subprocess.run(["curl", "-sS", "--noproxy", "*", "--aws-sigv4", "aws:amz:us-east-1:s3",
                    "--user", f"{ACCESS}:{SECRET}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                    "-X", "DELETE", f"{ENDPOINT}/{remote}/{urllib.parse.quote(key)}"],
                   check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("backend", BACKENDS)
def test_core_flow(assetd_factory, srv, tmp_path, backend):
    inst = assetd_factory(args=store_args(srv, *backend_args(backend, tmp_path)),
                          name=f"asset store on {backend}")
    cl = inst.client()
    bucket = "core-" + uuid.uuid4().hex[:8]
    ok(cl.post("/buckets", json={"name": bucket, "policy": "readonly"}), 201)
    aid = uniq("core")
    cl.create(asset(aid, srv.url("/files/docs.tar.gz"), bucket=bucket, filter=r"\.md$",
                    mutationWebhookService=[{"url": srv.url("/mutate"), "filter": "README"}],
                    metadataWebhookService=[{"url": srv.url("/metadata")}]))
    doc = wait_done(cl, aid)
    expect(doc, "Ready", "Uploaded")
    files = {f["asset_file_id"]: f for f in doc["files"]}
    assert sorted(files) == ["README.md", "docs/a.md", "docs/b.md", "docs/nested/c.md"]
    assert read_url(files["README.md"]["asset_file_url"]).text.endswith(
        srvmod.MUTATION_MARKER + "\n")
    assert files["docs/a.md"]["asset_file_metadata"]["title"] == "Page A"
    # a spec change cleans and runs again
    ok(cl.put("/assets/" + seg(aid), json={"source": {
        "url": srv.url("/files/docs.zip"), "mode": "package", "bucket": bucket,
        "filter": r"^docs/a\.md$"}}))
    doc = wait_done(cl, aid, gen=2)
    expect(doc, "Ready", "Uploaded")
    assert doc["asset_file_ids"] == ["docs/a.md"]
    assert read_url(files["README.md"]["asset_file_url"]).status_code == 404
    assert ("Pending", "Cleaned") in reasons_logged(inst, aid, gen=2)
    # an object removed behind its back
    remove_object(inst, bucket, f"{aid}/docs/a.md")
    doc = wait_for(cl, aid, lambda d: d["status"]["phase"] == "Failed", "MissingContent")
    expect(doc, "Failed", "MissingContent", "docs/a.md")
    # deleting the asset removes what is left
    aid2 = uniq("core2")
    cl.create(asset(aid2, srv.url("/files/hello.txt"), mode="single", bucket=bucket))
    doc2 = wait_done(cl, aid2)
    expect(doc2, "Ready", "Uploaded")
    ok(cl.delete("/assets/" + seg(aid2)))
    assert read_url(doc2["files"][0]["asset_file_url"]).status_code == 404
    cl.close()
