"""
test_assetctl_manifests.py - assetctl's asset-store commands against a real
assetd: apply -f (YAML with several documents, JSON, stdin), get
assets|buckets as a table and as -o json|yaml, apply again (unchanged,
configured), wait --for=Ready (the asset's source served by a local HTTP
server on 127.0.0.1), wait that times out or sees Failed, delete -f; and
manifests refused before any request (wrong apiVersion, unknown kind, bad
YAML with its line and column, unknown spec fields).

The server tests need the asset store in assetd (/buckets, assets with a
`source`, --source-allow); against a build without it they are skipped
with that reason. The refusal tests need no server.
"""

import functools
import http.server
import json
import re
import subprocess
import threading

import pytest
import yaml

from conftest import ASSETD_BIN, free_ports, require_binary, sanitizer_env, start_instance
from e2e_helpers import sanitizer_report, uniq

API = "rafter.kyma-project.io/v1beta1"


# ------------------------------------------------------------------ fixtures


@functools.lru_cache(maxsize=None)
def store_missing():
    """Why this assetd cannot run the asset store tests, or None."""
    require_binary(ASSETD_BIN, "assetd")
    p = subprocess.run([str(ASSETD_BIN), "--help"], capture_output=True, text=True, timeout=30)
    text = p.stdout + p.stderr
    for flag in ("--source-allow", "--bucket-check-interval"):
        if flag not in text:
            return f"assetd has no {flag}: the asset store (buckets, controller) is not built in"
    return None


@pytest.fixture(scope="module")
def source_server(tmp_path_factory):
    """A local HTTP server on 127.0.0.1 serving the files of a temp dir."""
    root = tmp_path_factory.mktemp("sources")
    (root / "README.md").write_text("# Hello\n\nA document served to the asset store.\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(root)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    t.join(10)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An assetd with the asset store, allowed to fetch from 127.0.0.1."""
    why = store_missing()
    if why:
        pytest.skip(why)
    inst = start_instance(tmp_path_factory.mktemp("assetd-manifests"), "manifests server",
                          args=["--source-allow", "127.0.0.1/32",
                                "--webhook-allow", "127.0.0.1/32",
                                "--bucket-check-interval", "1",
                                "--asset-check-interval", "1"])
    yield inst
    problems = inst.check_clean_exit()
    assert not problems, "\n".join(problems)


def run_ctl(assetctl_bin, base, *args, stdin=None, timeout=120, env=None):
    argv = [str(assetctl_bin), "--server", base] + [str(a) for a in args]
    environ = sanitizer_env(env)
    if not env or "ASSETCTL_TOKEN" not in env:
        environ.pop("ASSETCTL_TOKEN", None)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout,
                           env=environ)
    except subprocess.TimeoutExpired:
        pytest.fail(f"assetctl {args} did not finish within {timeout} s")
    report = sanitizer_report(p.stderr)
    assert not report, f"assetctl sanitizer report:\n{report}"
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def ctl(store, assetctl_bin):
    """ctl(*args, stdin=None) -> (exit status, stdout, stderr) against `store`."""
    return functools.partial(run_ctl, assetctl_bin, store.base)


@pytest.fixture
def offline(assetctl_bin):
    """assetctl pointed at a port nobody listens on: for what fails before a request."""
    base = f"http://127.0.0.1:{free_ports(1)[0]}"
    return functools.partial(run_ctl, assetctl_bin, base)


@pytest.fixture
def rest(store):
    c = store.client(0)
    yield c
    c.close()


# ------------------------------------------------------------------ helpers


def bucket_doc(name, policy="readonly", namespace=None, kind="Bucket"):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": {"policy": policy}}


def asset_doc(name, url, bucket, namespace=None, kind="Asset", **source):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    src = {"url": url, "mode": "single"}
    src.update(source)
    return {"apiVersion": API, "kind": kind, "metadata": meta,
            "spec": {"source": src, "bucketRef": {"name": bucket},
                     "displayName": f"Docs of {name}"}}


def write_yaml(tmp_path, docs):
    p = tmp_path / (uniq("m") + ".yaml")
    p.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return p


def table(out):
    """The rows of a NAME PHASE REASON AGE table, by name."""
    lines = out.splitlines()
    assert lines and lines[0].split() == ["NAME", "PHASE", "REASON", "AGE"], out
    return {ln.split()[0]: ln.split()[1:] for ln in lines[1:]}


def data(r):
    assert r.status_code == 200, r.text
    return r.json()["data"]


# ------------------------------------------- refused before any request


def test_wrong_api_version_is_refused(offline, tmp_path):
    d = bucket_doc("b1")
    d["apiVersion"] = "assetstore.kyma-project.io/v1alpha2"
    rc, out, err = offline("apply", "-f", write_yaml(tmp_path, [bucket_doc("b0"), d]))
    assert rc == 1 and out == ""
    assert "document 2: apiVersion" in err and API in err, err
    assert "cannot reach" not in err  # nothing was sent


def test_other_version_of_the_group_is_refused(offline, tmp_path):
    d = bucket_doc("b1")
    d["apiVersion"] = "rafter.kyma-project.io/v1alpha1"
    rc, _, err = offline("apply", "-f", write_yaml(tmp_path, [d]))
    assert rc == 1 and "is not supported: use " + API in err, err


def test_unknown_kind_is_refused(offline, tmp_path):
    d = bucket_doc("b1", kind="AssetGroup")
    rc, _, err = offline("apply", "-f", write_yaml(tmp_path, [d]))
    assert rc == 1
    assert 'kind: unknown kind "AssetGroup"' in err, err


def test_bad_yaml_names_line_and_column(offline, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(f"apiVersion: {API}\nkind: Bucket\nmetadata:\n  name: [x\nspec: {{}}\n")
    rc, out, err = offline("apply", "-f", p)
    assert rc == 1 and out == ""
    assert f"{p}: line 5 column 5:" in err, err
    assert "flow sequence started at line 4 column 9" in err, err

    p.write_text("a: 1\na: 2\n")
    rc, _, err = offline("delete", "-f", p)
    assert rc == 1 and 'line 2 column 4: duplicate key "a"' in err, err


def test_unknown_spec_field_is_named(offline, tmp_path):
    d = asset_doc("a1", "http://127.0.0.1:1/x", "b1")
    d["spec"]["source"]["urll"] = "typo"
    rc, _, err = offline("apply", "-f", write_yaml(tmp_path, [d]))
    assert rc == 1 and "document 1: spec.source.urll: unknown field" in err, err


def test_bad_json_manifest(offline, tmp_path):
    p = tmp_path / "m.json"
    p.write_text('[{"apiVersion": "%s",\n  "kind": "Bucket" "metadata": {}}]' % API)
    rc, _, err = offline("apply", "-f", p)
    assert rc == 1 and "line 2 column" in err and "invalid JSON" in err, err


def test_alias_bomb_is_refused(offline, tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    rc, _, err = offline("apply", "-f", p)
    assert rc == 1 and "once aliases are expanded (limit)" in err, err


def test_empty_file_is_refused(offline, tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("# nothing\n---\n")
    rc, _, err = offline("apply", "-f", p)
    assert rc == 1 and "no manifest in it" in err, err


def test_bad_wait_arguments(offline):
    rc, _, err = offline("wait", "asset", "x", "--for=Done")
    assert rc == 64 and "--for: 'Done' is not a phase" in err, err
    rc, _, err = offline("wait", "thing", "x")
    assert rc == 64 and "unknown kind 'thing'" in err, err
    rc, _, err = offline("wait", "asset", "x", "--timeout=soon")
    assert rc == 64 and "is not a duration" in err, err


# ---------------------------------------------------- against the server


def test_apply_get_wait_delete(ctl, rest, source_server, tmp_path):
    b, a = uniq("b"), uniq("a")
    bucket, asset_id = f"default.{b}", f"default.{a}"
    # the asset comes first in the file: apply still creates the bucket first
    docs = [asset_doc(a, source_server + "/README.md", b), bucket_doc(b)]
    path = write_yaml(tmp_path, docs)

    rc, out, err = ctl("apply", "-f", path)
    assert rc == 0, err
    assert out.splitlines() == [f"bucket/{bucket} created", f"asset/{asset_id} created"]

    stored = data(rest.get(f"/assets/{asset_id}"))
    assert stored["source"]["url"] == source_server + "/README.md"
    assert stored["source"]["bucket"] == bucket
    assert stored["source"]["displayName"] == f"Docs of {a}"
    assert data(rest.get(f"/buckets/{bucket}"))["policy"] == "readonly"

    rc, out, err = ctl("wait", "bucket", bucket, "--for=Ready", "--timeout=60s")
    assert rc == 0, err
    rc, out, err = ctl("wait", "asset", asset_id, "--for=Ready", "--timeout=60s")
    assert rc == 0, err
    assert f"asset/{asset_id} condition met" in out

    rc, out, err = ctl("get", "buckets")
    assert rc == 0, err
    assert table(out)[bucket][:2] == ["Ready", "BucketCreated"]
    rc, out, err = ctl("get", "assets")
    assert rc == 0, err
    row = table(out)[asset_id]
    assert row[:2] == ["Ready", "Uploaded"]
    assert re.fullmatch(r"\d+[smhdy]\S*", row[2]), row  # AGE, from created_at
    rc, out, err = ctl("get", "asset", asset_id)
    assert rc == 0 and list(table(out)) == [asset_id], out

    rc, out, err = ctl("get", "asset", asset_id, "-o", "json")
    assert rc == 0, err
    as_json = json.loads(out)
    assert as_json["asset_id"] == asset_id and as_json["status"]["phase"] == "Ready"
    rc, out, err = ctl("get", "asset", asset_id, "-o", "yaml")
    assert rc == 0, err
    # PyYAML (YAML 1.1) reads the YAML output back as the JSON document
    # (status aside: its heartbeat moves between the two requests)
    as_yaml = yaml.safe_load(out)
    assert as_yaml.pop("status")["phase"] == "Ready"
    assert as_yaml == {k: v for k, v in as_json.items() if k != "status"}
    assert as_yaml["asset_version"] == "1"
    rc, out, err = ctl("get", "buckets", "-o", "yaml")
    assert rc == 0, err
    assert bucket in [x["name"] for x in yaml.safe_load(out)]

    # the same file again changes nothing
    rc, out, err = ctl("apply", "-f", path)
    assert rc == 0, err
    assert out.splitlines() == [f"bucket/{bucket} unchanged", f"asset/{asset_id} unchanged"]
    gen = data(rest.get(f"/assets/{asset_id}"))["generation"]

    # a changed spec is configured, and the asset becomes Ready again
    docs[0]["spec"]["source"]["filter"] = r"\.md$"
    docs[1]["spec"]["policy"] = "none"
    rc, out, err = ctl("apply", "-f", write_yaml(tmp_path, docs))
    assert rc == 0, err
    assert out.splitlines() == [f"bucket/{bucket} configured", f"asset/{asset_id} configured"]
    after = data(rest.get(f"/assets/{asset_id}"))
    assert after["generation"] == gen + 1 and after["source"]["filter"] == r"\.md$"
    assert data(rest.get(f"/buckets/{bucket}"))["policy"] == "none"
    rc, out, err = ctl("wait", "asset", asset_id, "--timeout=60s")
    assert rc == 0, err

    rc, out, err = ctl("delete", "-f", path)
    assert rc == 0, err
    assert out.splitlines() == [f"asset/{asset_id} deleted", f"bucket/{bucket} deleted"]
    assert rest.get(f"/assets/{asset_id}").status_code == 404
    assert rest.get(f"/buckets/{bucket}").status_code == 404

    # nothing left: every one is reported, and the exit status says so
    rc, out, err = ctl("delete", "-f", path)
    assert rc == 1 and out == ""
    assert f"asset/{asset_id} not found" in err and f"bucket/{bucket} not found" in err
    assert "nothing to delete" in err


def test_delete_with_some_missing_is_not_an_error(ctl, tmp_path):
    b = uniq("b")
    rc, _, err = ctl("apply", "-f", write_yaml(tmp_path, [bucket_doc(b)]))
    assert rc == 0, err
    path = write_yaml(tmp_path, [bucket_doc(b), bucket_doc(uniq("gone"))])
    rc, out, err = ctl("delete", "-f", path)
    assert rc == 0, err
    assert out.splitlines() == [f"bucket/default.{b} deleted"]
    assert "not found" in err


def test_cluster_kinds_json_and_stdin(ctl, rest, source_server):
    b, a = uniq("cb"), uniq("ca")
    docs = [bucket_doc(b, kind="ClusterBucket", policy="none"),
            asset_doc(a, source_server + "/README.md", b, kind="ClusterAsset")]
    rc, out, err = ctl("apply", "-f", "-", stdin=json.dumps(docs))
    assert rc == 0, err
    assert out.splitlines() == [f"bucket/{b} created", f"asset/{a} created"]
    assert data(rest.get(f"/assets/{a}"))["source"]["bucket"] == b
    rc, out, err = ctl("wait", "asset", a, "--timeout=60s")
    assert rc == 0, err
    rc, out, err = ctl("delete", "-f", "-", stdin=json.dumps(docs))
    assert rc == 0, err


def test_namespaced_bucket_ref(ctl, rest, source_server, tmp_path):
    b, a = uniq("b"), uniq("a")
    docs = [bucket_doc(b, namespace="team-x"),
            asset_doc(a, source_server + "/README.md", b, namespace="team-x")]
    rc, out, err = ctl("apply", "-f", write_yaml(tmp_path, docs))
    assert rc == 0, err
    assert data(rest.get(f"/assets/team-x.{a}"))["source"]["bucket"] == f"team-x.{b}"
    rc, _, err = ctl("delete", "-f", write_yaml(tmp_path, docs))
    assert rc == 0, err


def test_wait_sees_failed(ctl, source_server, tmp_path):
    b, a = uniq("b"), uniq("a")
    docs = [bucket_doc(b), asset_doc(a, source_server + "/no-such-file.md", b)]
    path = write_yaml(tmp_path, docs)
    rc, _, err = ctl("apply", "-f", path)
    assert rc == 0, err
    rc, out, err = ctl("wait", "asset", f"default.{a}", "--for=Ready", "--timeout=60s")
    assert rc == 1 and out == ""
    assert f"asset/default.{a} failed: phase Failed, reason PullingFailed" in err, err
    rc, _, err = ctl("delete", "-f", path)
    assert rc == 0, err


def test_wait_times_out_with_the_last_status(ctl, source_server, tmp_path):
    a = uniq("a")
    # its bucket does not exist: the asset stays Pending (BucketNotReady)
    path = write_yaml(tmp_path, [asset_doc(a, source_server + "/README.md", uniq("nob"))])
    rc, _, err = ctl("apply", "-f", path)
    assert rc == 0, err
    rc, out, err = ctl("wait", "asset", f"default.{a}", "--timeout=3s")
    assert rc == 1 and out == ""
    assert f"timed out waiting for asset/default.{a} to be Ready; last status:" in err, err
    rc, _, err = ctl("delete", "-f", path)
    assert rc == 0, err


def test_server_refusal_is_reported(ctl, tmp_path):
    rc, out, err = ctl("apply", "-f", write_yaml(tmp_path, [bucket_doc(uniq("b"), "public")]))
    assert rc == 1 and out == ""
    assert "policy" in err and "HTTP 400" in err, err


def test_wait_for_a_missing_asset(ctl):
    rc, _, err = ctl("wait", "asset", uniq("none"), "--timeout=5s")
    assert rc == 1 and "HTTP 404" in err, err


def test_tokens(assetd_factory, assetctl_bin, tmp_path):
    """apply/get/wait/delete send --token or $ASSETCTL_TOKEN like every command."""
    if store_missing():
        pytest.skip(store_missing())
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    toks = {}
    for role in ("reader", "writer"):
        p = subprocess.run([str(ASSETD_BIN), "token", "create", f"m-{role}", role,
                            "--data", str(data_dir)],
                           capture_output=True, text=True, env=sanitizer_env(), timeout=60)
        assert p.returncode == 0, p.stderr
        toks[role] = p.stdout.strip()
    inst = assetd_factory(args=["--bucket-check-interval", "1"], data=data_dir)
    b = uniq("b")
    path = write_yaml(tmp_path, [bucket_doc(b)])

    rc, out, err = run_ctl(assetctl_bin, inst.base, "apply", "-f", path)
    assert rc == 1 and out == "" and "HTTP 401" in err, err
    rc, out, err = run_ctl(assetctl_bin, inst.base, "--token", toks["reader"], "apply", "-f", path)
    assert rc == 1 and "HTTP 403" in err, err
    rc, out, err = run_ctl(assetctl_bin, inst.base, "--token", toks["writer"], "apply", "-f", path)
    assert rc == 0 and out == f"bucket/default.{b} created\n", err
    rc, out, err = run_ctl(assetctl_bin, inst.base, "--token", toks["reader"], "wait", "bucket",
                           f"default.{b}", "--timeout=30s")
    assert rc == 0, err
    rc, out, err = run_ctl(assetctl_bin, inst.base, "--token", toks["reader"], "get", "buckets")
    assert rc == 0 and table(out)[f"default.{b}"][0] == "Ready", err
    rc, out, err = run_ctl(assetctl_bin, inst.base, "delete", "-f", path,
                           env={"ASSETCTL_TOKEN": toks["writer"]})
    assert rc == 0 and out == f"bucket/default.{b} deleted\n", err
