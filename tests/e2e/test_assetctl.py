"""
test_assetctl.py - assetctl, the command-line client, against the shared
assetd: create -f, get, update -f, delete, list, query --type/--sub-type/
--tag/--api-route, search, -o table, --server; errors print the server's
message on stderr and exit non-zero.
"""

import json
import subprocess

import pytest

from conftest import free_ports, sanitizer_env
from e2e_helpers import canonical, err, make_asset, make_profile, ok, sanitizer_report, uniq


@pytest.fixture
def ctl(server, assetctl_bin):
    """ctl(*args, server=..., stdin=..., env=...) -> (exit status, stdout, stderr)."""

    def run(*args, base=None, stdin=None, env=None, with_server=True):
        argv = [str(assetctl_bin)]
        if with_server:
            argv += ["--server", base or server.base]
        argv += [str(a) for a in args]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, input=stdin,
                               timeout=60, env=sanitizer_env(env))
        except subprocess.TimeoutExpired:
            pytest.fail(f"assetctl {args} did not finish within 60 s")
        report = sanitizer_report(p.stderr)
        assert not report, f"assetctl sanitizer report:\n{report}"
        return p.returncode, p.stdout, p.stderr

    return run


def js(out):
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError(f"assetctl output is not JSON: {out[:500]!r}")


def write(tmp_path, doc, name=None):
    p = tmp_path / (name or (uniq("f") + ".json"))
    p.write_text(json.dumps(doc))
    return p


def test_create_get_update_delete(ctl, api, tmp_path):
    a = make_asset(tags=["cli"])
    rc, out, errout = ctl("create", "-f", write(tmp_path, a))
    assert rc == 0, errout
    assert js(out) == canonical(a)
    assert ok(api.get_asset(a["asset_id"])) == canonical(a)

    rc, out, errout = ctl("get", a["asset_id"])
    assert rc == 0, errout
    assert js(out) == canonical(a)

    rc, out, errout = ctl("update", a["asset_id"], "-f",
                          write(tmp_path, {"asset_brief_description": "from the CLI"}))
    assert rc == 0, errout
    assert js(out)["asset_brief_description"] == "from the CLI"
    assert ok(api.get_asset(a["asset_id"]))["asset_brief_description"] == "from the CLI"

    rc, out, errout = ctl("delete", a["asset_id"])
    assert rc == 0, errout
    assert a["asset_id"] in out
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_create_from_stdin(ctl, api):
    a = make_asset()
    rc, out, errout = ctl("create", "-f", "-", stdin=json.dumps(a))
    assert rc == 0, errout
    assert js(out)["asset_id"] == a["asset_id"]
    ok(api.get_asset(a["asset_id"]))


def test_odd_ids_are_encoded(ctl, api, tmp_path):
    a = make_asset(uniq("cli") + " é?#%")
    api.create(a)
    rc, out, errout = ctl("get", "--", a["asset_id"])
    assert rc == 0, errout
    assert js(out)["asset_id"] == a["asset_id"]
    rc, out, errout = ctl("delete", "--", a["asset_id"])
    assert rc == 0, errout
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_list(ctl, api):
    a = make_asset()
    api.create(a)
    rc, out, errout = ctl("list")
    assert rc == 0, errout
    ids = [x["asset_id"] for x in js(out)]
    assert a["asset_id"] in ids
    rc, out, errout = ctl("list", "--limit", "2", "--sort", "asset_id:desc", "--fields", "asset_uri")
    assert rc == 0, errout
    data = js(out)
    assert len(data) == 2
    assert [x["asset_id"] for x in data] == sorted(ids, reverse=True)[:2]
    assert all(set(x) == {"asset_id", "asset_uri"} for x in data)


def test_query_each_kind(ctl, api):
    m = uniq("cliq")
    aid = uniq("cliq-asset")
    a = make_asset(aid, route=f"/api/{m}/generate",
                   profiles=[make_profile(aid, "data", "image"),
                             make_profile(aid, m + "-type", m + "-sub", [m + "-tag"])])
    b = make_asset(asset_type=m + "-type")
    api.create(a)
    api.create(b)
    for opt, val, want in (("--type", m + "-type", [aid, b["asset_id"]]),
                           ("--sub-type", m + "-sub", [aid]),
                           ("--tag", m + "-tag", [aid]),
                           ("--api-route", f"api/{m}/generate", [aid]),
                           ("--api-route", f"/api/{m}/generate", [aid])):
        rc, out, errout = ctl("query", opt, val)
        assert rc == 0, f"query {opt} {val}: {errout}"
        assert [x["asset_id"] for x in js(out)] == want, f"query {opt} {val}"
    rc, out, errout = ctl("query", "--type", m + "-type", "--sort", "asset_id:desc", "--limit", "1")
    assert rc == 0, errout
    assert [x["asset_id"] for x in js(out)] == [max(aid, b["asset_id"])]
    rc, out, errout = ctl("query", "--type", uniq("none"))
    assert rc == 0, errout
    assert js(out) == []


def test_search(ctl, api, tmp_path):
    m = uniq("clis")
    a = make_asset(version=m, asset_type="model")
    b = make_asset(version=m, asset_type="data")
    api.create(a)
    api.create(b)
    rc, out, errout = ctl("search", json.dumps({"asset_version": m, "profiles.asset_type": "model"}))
    assert rc == 0, errout
    assert [x["asset_id"] for x in js(out)] == [a["asset_id"]]
    rc, out, errout = ctl("search", "-f", write(tmp_path, {"asset_version": m}), "--sort", "asset_id")
    assert rc == 0, errout
    assert [x["asset_id"] for x in js(out)] == sorted([a["asset_id"], b["asset_id"]])


def test_table_output(ctl, api):
    m = uniq("clit")
    a = make_asset(asset_type=m, sub_type="llm", tags=["t1", "t2"], version="v7",
                   asset_brief_description="shown in the table")
    b = make_asset(asset_type=m, sub_type="image", version="v8")
    api.create(a)
    api.create(b)
    rc, out, errout = ctl("query", "--type", m, "-o", "table")
    assert rc == 0, errout
    lines = [l for l in out.splitlines() if l.strip()]
    header = lines[0].split()
    for col in ("ASSET_ID", "VERSION", "TYPE", "SUB_TYPE", "TAGS", "DESCRIPTION"):
        assert col in header, f"table header lacks {col}: {lines[0]!r}"
    rows = {l.split()[0]: l for l in lines[1:]}
    assert set(rows) == {a["asset_id"], b["asset_id"]}, out
    row = rows[a["asset_id"]]
    for cell in ("v7", m, "llm", "t1", "shown in the table"):
        assert cell in row, f"row {row!r} lacks {cell!r}"
    assert "v8" in rows[b["asset_id"]] and "image" in rows[b["asset_id"]]
    # columns are aligned: every row's VERSION starts where the header's does
    col = lines[0].index("VERSION")
    assert rows[a["asset_id"]][col:].startswith("v7"), out
    assert rows[b["asset_id"]][col:].startswith("v8"), out

    rc, out, errout = ctl("get", a["asset_id"], "-o", "table")
    assert rc == 0, errout
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 2 and lines[1].split()[0] == a["asset_id"], out


def test_server_option_second_listener_and_env(ctl, api, server):
    a = make_asset()
    api.create(a)
    rc, out, errout = ctl("get", a["asset_id"], base=server.bases[1])
    assert rc == 0, errout
    assert js(out)["asset_id"] == a["asset_id"]
    rc, out, errout = ctl("get", a["asset_id"], with_server=False,
                          env={"ASSETCTL_SERVER": server.bases[1]})
    assert rc == 0, errout
    assert js(out)["asset_id"] == a["asset_id"]


def test_get_missing_shows_server_error(ctl, api):
    missing = uniq("missing")
    server_msg = err(api.get_asset(missing), 404, "not_found")
    rc, out, errout = ctl("get", missing)
    assert rc == 1
    assert server_msg in errout, f"stderr {errout!r} lacks the server's error {server_msg!r}"
    assert out.strip() == ""


def test_create_invalid_shows_validation_error(ctl, tmp_path):
    a = make_asset()
    del a["profiles"][0]["asset_type"]
    rc, out, errout = ctl("create", "-f", write(tmp_path, a))
    assert rc == 1
    assert "profiles[0].asset_type: required" in errout, errout


def test_create_duplicate_fails(ctl, api, tmp_path):
    a = make_asset()
    api.create(a)
    server_msg = err(api.post("/assets", json=a), 400, "already_exists")
    rc, out, errout = ctl("create", "-f", write(tmp_path, a))
    assert rc == 1
    assert server_msg in errout, errout


def test_update_stale_if_match_fails(ctl, api, tmp_path):
    a = make_asset()
    api.create(a)
    ok(api.put("/assets/" + a["asset_id"], json={"asset_version": "v2"}))
    rc, out, errout = ctl("update", a["asset_id"], "-f", write(tmp_path, {"asset_version": "v3"}),
                          "--if-match", "1")
    assert rc == 1
    assert "412" in errout or "precondition" in errout, errout
    assert ok(api.get_asset(a["asset_id"]))["asset_version"] == "v2"


def test_delete_missing_fails(ctl, api):
    missing = uniq("missing")
    server_msg = err(api.delete("/assets/" + missing), 404, "not_found")
    rc, out, errout = ctl("delete", missing)
    assert rc == 1
    assert server_msg in errout, errout


def test_bad_filter_shows_server_error(ctl):
    rc, out, errout = ctl("search", '{"$where": "1"}')
    assert rc == 1
    assert "$where" in errout, errout


def test_unreachable_server(ctl):
    port, = free_ports(1)
    rc, out, errout = ctl("get", "x", base=f"http://127.0.0.1:{port}")
    assert rc == 2, errout
    assert str(port) in errout, errout


def test_usage_errors(ctl, tmp_path):
    rc, out, errout = ctl("no-such-command")
    assert rc == 64 and "no-such-command" in errout, (rc, errout)
    rc, out, errout = ctl("create")
    assert rc == 64 and "-f" in errout, (rc, errout)
    rc, out, errout = ctl("query")
    assert rc == 64, (rc, errout)
    rc, out, errout = ctl("get")
    assert rc == 64, (rc, errout)


def test_unreadable_or_bad_file(ctl, tmp_path):
    rc, out, errout = ctl("create", "-f", tmp_path / "does-not-exist.json")
    assert rc == 1 and "does-not-exist.json" in errout, (rc, errout)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, out, errout = ctl("create", "-f", bad)
    assert rc == 1 and errout.strip(), (rc, errout)


def test_help(assetctl_bin):
    p = subprocess.run([str(assetctl_bin), "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    for word in ("create", "get", "update", "delete", "list", "query", "search", "--server", "table"):
        assert word in p.stdout, word
