"""
test_auth.py - access control end to end: every route x {no token, bad
token, reader, writer, admin} with the status a user gets; tokens created,
listed and revoked (through the API, `assetd token` and assetctl); the open
mode on loopback and the refusal to expose an unauthenticated server; the
secret field redacted below admin on every path (REST, lists, queries,
search, GraphQL, ZIP download, logs); audit lines for every change.

Each test runs its own assetd: the session server stays in open mode.
"""

import io
import json
import socket
import subprocess
import time
import zipfile

import pytest

from conftest import ASSETD_BIN, ASSETCTL_BIN, sanitizer_env
from e2e_helpers import Client, err, make_asset, ok, seg, uniq
from zip_upload_helpers import asset_doc, wait_done, zip_bytes

SECRET = {"registry": "registry.example.com", "username": "bot", "password": "hunter2-s3cr3t"}
SECRET_FIELD = "asset_container_registry_creds_config"
ROLES = ["reader", "writer", "admin"]
RANK = {"public": 0, "reader": 1, "writer": 2, "admin": 3}


def assetd_token(data_dir, *words):
    """Runs `assetd token WORDS... --data DIR`; returns (status, stdout, stderr)."""
    p = subprocess.run([str(ASSETD_BIN), "token", *words, "--data", str(data_dir)],
                       capture_output=True, text=True, env=sanitizer_env(), timeout=60)
    return p.returncode, p.stdout, p.stderr


def make_token(data_dir, name, role):
    rc, out, errtext = assetd_token(data_dir, "create", name, role)
    assert rc == 0, f"assetd token create {name} {role}: {rc}\n{errtext}"
    tok = out.strip()
    assert tok.startswith("adt_") and len(tok) == 47, f"token looks wrong: {out!r}"
    return tok


class Authed(Client):
    """A client that sends one bearer token (or a raw Authorization value)."""

    def __init__(self, base, token=None, raw=None):
        super().__init__(base)
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"
        elif raw:
            self.s.headers["Authorization"] = raw


def start_secured(assetd_factory, tmp_path, args=()):
    """An assetd with an admin, a writer and a reader token (made with
    `assetd token` before it starts), and clients for each role plus
    "none" (no Authorization) and "bad" (a well-formed token nobody issued)."""
    data = tmp_path / "secured-data"
    data.mkdir()
    toks = {role: make_token(data, f"{role}-1", role) for role in ROLES}
    inst = assetd_factory(args=list(args), data=data)
    clients = {role: Authed(inst.base, toks[role]) for role in ROLES}
    clients["none"] = Client(inst.base)
    clients["bad"] = Authed(inst.base, "adt_" + "A" * 43)
    return inst, toks, clients


def tiny_zip(asset_id, files=(("data/a.txt", b"hello auth\n"),)):
    return zip_bytes([("asset.json", asset_doc(asset_id))] + list(files))


def upload(client, data):
    return client.post("/zip/upload", files={"file": ("b.zip", data, "application/zip")})


# ---------------------------------------------------------------- the matrix


def test_route_role_matrix(assetd_factory, tmp_path):
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    admin = c["admin"]

    # fixtures the routes act on, made by admin
    base_id = uniq("auth-base")
    admin.create(make_asset(base_id, asset_type="authtype", sub_type="authsub", tags=["authtag"],
                            route="auth/route"))
    r = upload(admin, tiny_zip(uniq("auth-zip")))
    assert r.status_code == 202, r.text
    up = r.json()
    st = wait_done(admin, up["upload_id"])
    assert st["status"] == "success", st
    zdoc = ok(admin.get("/assets/" + seg(st["asset_id"])))
    file_path = zdoc["files"][0]["asset_file_url"].split(inst.base, 1)[1]

    counter = {"n": 0}

    def fresh(prefix):
        counter["n"] += 1
        return f"{prefix}-{counter['n']}-{uniq('x')}"

    def new_asset_body():
        return {"json": make_asset(fresh("auth-new"))}

    def doomed_asset():
        aid = fresh("auth-del")
        admin.create(make_asset(aid))
        return "/assets/" + seg(aid)

    def doomed_token():
        name = fresh("tok-del")
        ok(admin.post("/tokens", json={"name": name, "role": "reader"}), 201)
        return "/tokens/" + name

    gql = {"query": "{ getAssetById(assetId: \"%s\") { assetId } }" % base_id}
    # (method, path or path-maker, request kwargs or maker, least role, success status)
    table = [
        ("POST", "/assets", new_asset_body, "writer", 201),
        ("GET", "/assets", {}, "reader", 200),
        ("GET", "/assets/" + seg(base_id), {}, "reader", 200),
        ("PUT", "/assets/" + seg(base_id), {"json": {"asset_version": "v9"}}, "writer", 200),
        ("DELETE", doomed_asset, {}, "writer", 200),
        ("GET", "/query/by-id/" + seg(base_id), {}, "reader", 200),
        ("GET", "/query/by-type/authtype", {}, "reader", 200),
        ("GET", "/query/by-sub-type/authsub", {}, "reader", 200),
        ("GET", "/query/by-tag/authtag", {}, "reader", 200),
        ("GET", "/query/by-api-route/auth/route", {}, "reader", 200),
        ("POST", "/query/search", {"json": {"asset_id": base_id}}, "reader", 200),
        ("GET", "/healthz", {}, "public", 200),
        ("GET", "/readyz", {}, "public", 200),
        ("GET", "/graphql", {"params": gql}, "reader", 200),
        ("POST", "/graphql", {"json": gql}, "reader", 200),
        ("POST", "/zip/upload",
         lambda: {"files": {"file": ("b.zip", tiny_zip(fresh("auth-up")), "application/zip")}},
         "writer", 202),
        ("GET", "/zip/status/" + up["upload_id"], {}, "reader", 200),
        ("GET", "/zip/download/" + seg(st["asset_id"]), {}, "reader", 200),
        ("GET", file_path, {}, "reader", 200),
        ("POST", "/tokens", lambda: {"json": {"name": fresh("tok"), "role": "reader"}}, "admin", 201),
        ("GET", "/tokens", {}, "admin", 200),
        ("DELETE", doomed_token, {}, "admin", 200),
    ]

    # every route of the server is in the table (README's table is this one)
    seen = set()
    failures = []
    for method, path, kw, need, good in table:
        for who in ["none", "bad", "reader", "writer", "admin"]:
            p = path() if callable(path) else path
            k = kw() if callable(kw) else dict(kw)
            r = c[who].request(method, p, **k)
            if need == "public":
                want = good
            elif who in ("none", "bad"):
                want = 401
            elif RANK[who] < RANK[need]:
                want = 403
            else:
                want = good
            seen.add((method, p.split("/")[1]))
            if r.status_code != want:
                failures.append(f"{method} {p} as {who}: want {want}, got {r.status_code}: "
                                f"{r.text[:200]}")
                continue
            if want in (401, 403):
                body = r.json()
                code = "unauthorized" if want == 401 else "forbidden"
                if body.get("success") is not False or body.get("code") != code:
                    failures.append(f"{method} {p} as {who}: envelope {r.text[:200]}")
                if want == 401 and "Bearer" not in r.headers.get("WWW-Authenticate", ""):
                    failures.append(f"{method} {p} as {who}: 401 without WWW-Authenticate")
                if want == 403 and need not in body.get("error", ""):
                    failures.append(f"{method} {p} as {who}: 403 does not name the role: "
                                    f"{body.get('error')}")
    assert not failures, "\n".join(failures)


def test_malformed_authorization_headers(assetd_factory, tmp_path):
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    for raw in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer nothing-like-a-token",
                toks["admin"], "Bearer " + toks["admin"] + "x", "Bearer " + toks["admin"][:-1],
                "Token " + toks["admin"]]:
        r = Authed(inst.base, raw=raw).get("/assets")
        err(r, 401, "unauthorized")
    # the scheme is case-insensitive, and spaces after it are fine
    ok(Authed(inst.base, raw="bearer   " + toks["reader"]).get("/assets"))


def test_refused_before_the_body_is_read(assetd_factory, tmp_path):
    """An upload without a token is answered 401 at once, even with a body
    announced far over what anyone may send."""
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=30)
    try:
        s.sendall(b"POST /zip/upload HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 1000000000000\r\n\r\n")
        head = s.recv(65536).decode("latin-1")
        assert head.startswith("HTTP/1.1 401"), head[:200]
    finally:
        s.close()
    assert inst.alive()


# ------------------------------------------------------------------- tokens


def test_tokens_api_and_revocation_across_instances(assetd_factory, tmp_path):
    """Two instances share one data directory (one meta store): a token made
    through the first works on the second, and revoking it through the
    first stops it on the second at once."""
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    other = assetd_factory(data=inst.data_dir, args=["--workers", "1"])
    admin = c["admin"]
    name = uniq("ci")
    made = ok(admin.post("/tokens", json={"name": name, "role": "writer"}), 201)
    assert made["name"] == name and made["role"] == "writer" and made["token"].startswith("adt_")
    listed = ok(admin.get("/tokens"))
    assert [t for t in listed if t["name"] == name] == [
        {"name": name, "role": "writer", "created": made["created"]}]
    assert all("token" not in t for t in listed), "GET /tokens must never show a token"
    names = [t["name"] for t in listed]
    assert names == sorted(names)

    on_other = Authed(other.base, made["token"])
    ok(on_other.post("/assets", json=make_asset(uniq("via-other"))), 201)
    err(admin.post("/tokens", json={"name": name, "role": "reader"}), 400, "already_exists")

    ok(admin.delete("/tokens/" + name))
    err(on_other.get("/assets"), 401, "unauthorized", "revoked")
    err(admin.delete("/tokens/" + name), 404, "not_found")

    # bad requests name what is wrong
    err(admin.post("/tokens", json={"name": "x", "role": "root"}), 400, "bad_request", "role")
    err(admin.post("/tokens", json={"name": "a b", "role": "reader"}), 400, "bad_request", "name")
    err(admin.post("/tokens", json={"name": "x", "role": "reader", "extra": 1}), 400,
        "bad_request", "extra")
    err(admin.post("/tokens", json=["x"]), 400, "bad_request")


def test_assetd_token_command(tmp_path):
    data = tmp_path / "d"
    rc, out, errtext = assetd_token(data, "list")
    assert rc == 0 and out == "", (rc, out, errtext)
    tok = make_token(data, "ops", "admin")
    rc, out, errtext = assetd_token(data, "create", "ops", "reader")
    assert rc == 1 and "already exists" in errtext
    rc, out, errtext = assetd_token(data, "create", "x", "superuser")
    assert rc == 1 and "reader, writer or admin" in errtext
    rc, out, _ = assetd_token(data, "list")
    assert rc == 0 and out.split()[:2] == ["ops", "admin"] and tok not in out
    rc, out, errtext = assetd_token(data, "revoke", "ops")
    assert rc == 0, errtext
    rc, out, errtext = assetd_token(data, "revoke", "ops")
    assert rc == 1 and "no token named ops" in errtext
    rc, out, errtext = assetd_token(data, "frobnicate")
    assert rc == 2 and "usage" in errtext


def test_assetctl_tokens(assetd_factory, tmp_path):
    inst, toks, c = start_secured(assetd_factory, tmp_path)

    def ctl(*args, token=None, env_token=None):
        env = sanitizer_env({"ASSETCTL_SERVER": inst.base})
        env.pop("ASSETCTL_TOKEN", None)
        if env_token:
            env["ASSETCTL_TOKEN"] = env_token
        argv = [str(ASSETCTL_BIN)] + (["--token", token] if token else []) + list(args)
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)

    p = ctl("token", "create", "ci-bot", "--role", "writer", token=toks["admin"])
    assert p.returncode == 0, p.stderr
    made = json.loads(p.stdout)
    assert made["name"] == "ci-bot" and made["role"] == "writer"
    assert "only this once" in p.stderr
    p = ctl("-o", "table", "token", "list", env_token=toks["admin"])
    assert p.returncode == 0 and "ci-bot" in p.stdout and "writer" in p.stdout, p.stdout
    assert made["token"] not in p.stdout
    # the new token works from assetctl, through the environment
    p = ctl("list", env_token=made["token"])
    assert p.returncode == 0, p.stderr
    # without a token: the server's 401 message, exit 1
    p = ctl("list")
    assert p.returncode == 1 and "token" in p.stderr, p.stderr
    # a reader may not create tokens: the 403 message names the role
    p = ctl("token", "create", "x", "--role", "reader", token=toks["reader"])
    assert p.returncode == 1 and "admin" in p.stderr, p.stderr
    p = ctl("token", "revoke", "ci-bot", token=toks["admin"])
    assert p.returncode == 0, p.stderr
    p = ctl("list", env_token=made["token"])
    assert p.returncode == 1 and "revoked" in p.stderr, p.stderr
    p = ctl("token", "create", "x", token=toks["admin"])
    assert p.returncode == 64 and "--role" in p.stderr


# ------------------------------------------------------- secure by default


def test_open_mode_on_loopback_until_a_token_exists(assetd_factory, tmp_path):
    inst = assetd_factory()
    anon = Client(inst.base)
    # the quickstart: no token anywhere, loopback: everything works
    ok(anon.post("/assets", json=make_asset(uniq("open"), **{SECRET_FIELD: SECRET})), 201)
    made = ok(anon.post("/tokens", json={"name": "first", "role": "admin"}), 201)
    # a token made through this instance closes it at once
    err(anon.get("/assets"), 401, "unauthorized")
    ok(Authed(inst.base, made["token"]).get("/assets"))
    # and revoking the last token opens it again (loopback only)
    ok(Authed(inst.base, made["token"]).delete("/tokens/first"))
    ok(anon.get("/assets"))


def test_refuses_to_expose_without_tokens(tmp_path):
    """On a non-loopback address with no token, assetd refuses to start and
    names both ways out. (It refuses before binding anything.)"""
    data = tmp_path / "d"
    p = subprocess.run([str(ASSETD_BIN), "--data", str(data), "--listen", "0.0.0.0:0"],
                       capture_output=True, text=True, env=sanitizer_env(), timeout=60)
    assert p.returncode != 0
    assert "assetd token create" in p.stderr and "--insecure-no-auth" in p.stderr, p.stderr


@pytest.mark.parametrize("how", ["token", "insecure"])
def test_non_loopback_allowed_with_a_token_or_the_flag(tmp_path, how):
    """With a token (or --insecure-no-auth) the exposure check passes. To
    stay on loopback, the address is one this machine does not have
    (192.0.2.1, TEST-NET-1): getting as far as the bind error proves the
    check let it through, and nothing is ever listening off loopback."""
    data = tmp_path / "d"
    args = [str(ASSETD_BIN), "--data", str(data), "--listen", "192.0.2.1:1"]
    if how == "token":
        make_token(data, "root", "admin")
    else:
        args.append("--insecure-no-auth")
    p = subprocess.run(args, capture_output=True, text=True, env=sanitizer_env(), timeout=60)
    assert p.returncode != 0
    assert "refusing" not in p.stderr, p.stderr
    assert "cannot start" in p.stderr, p.stderr
    if how == "insecure":
        assert "WITHOUT authentication" in p.stderr


# ---------------------------------------------------------------- redaction


def test_secret_redacted_on_every_path(assetd_factory, tmp_path):
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    admin, writer, reader = c["admin"], c["writer"], c["reader"]
    aid = uniq("secret")
    doc = make_asset(aid, asset_type="sectype", tags=["sectag"], route="sec/route",
                     **{SECRET_FIELD: SECRET})

    # create as writer: the answer is already redacted (writers write, only admins read secrets)
    created = ok(writer.post("/assets", json=doc), 201)
    assert created[SECRET_FIELD] == "<redacted>"
    # and so is an update's answer
    upd = ok(writer.put("/assets/" + seg(aid), json={"asset_brief_description": "b"}))
    assert upd[SECRET_FIELD] == "<redacted>"

    def everywhere(client):
        got = []
        got.append(ok(client.get("/assets/" + seg(aid)))[SECRET_FIELD])
        got.append(ok(client.get("/query/by-id/" + seg(aid)))[SECRET_FIELD])
        for path in ["/assets", "/query/by-type/sectype", "/query/by-tag/sectag",
                     "/query/by-api-route/sec/route", "/query/by-sub-type/llm"]:
            items = [a for a in ok(client.get(path)) if a["asset_id"] == aid]
            assert len(items) == 1, path
            got.append(items[0][SECRET_FIELD])
        items = ok(client.get("/assets", params={"fields": SECRET_FIELD}))
        got.append([a for a in items if a["asset_id"] == aid][0][SECRET_FIELD])
        items = ok(client.post("/query/search", json={"asset_id": aid}))
        got.append(items[0][SECRET_FIELD])
        q = {"query": "{ getAssetById(assetId: \"%s\") { assetContainerRegistryCredsConfig } "
                      "searchAssets(filters: {asset_id: \"%s\"}) { assetContainerRegistryCredsConfig } }"
                      % (aid, aid)}
        g = client.post("/graphql", json=q).json()
        assert "errors" not in g, g
        got.append(g["data"]["getAssetById"]["assetContainerRegistryCredsConfig"])
        got.append(g["data"]["searchAssets"][0]["assetContainerRegistryCredsConfig"])
        z = client.get("/zip/download/" + seg(aid))
        assert z.status_code == 200
        with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
            got.append(json.loads(zf.read("asset.json"))[SECRET_FIELD])
        assert len(z.content) == int(z.headers["Content-Length"])
        return got

    for role in ("reader", "writer"):
        assert everywhere(c[role]) == ["<redacted>"] * 12, role
    assert everywhere(admin) == [SECRET] * 12

    # the secret cannot be probed through filters or sorting below admin
    err(reader.post("/query/search", json={SECRET_FIELD + ".password": "hunter2-s3cr3t"}), 403,
        "forbidden", SECRET_FIELD)
    err(reader.post("/query/search", json={"$or": [{"asset_id": "x"},
                                                  {SECRET_FIELD: {"$exists": True}}]}),
        403, "forbidden")
    err(reader.get("/assets", params={"sort": SECRET_FIELD + ".password"}), 403, "forbidden")
    g = reader.post("/graphql", json={"query": "{ searchAssets(filters: {\"%s.username\": \"bot\"}) "
                                               "{ assetId } }" % SECRET_FIELD}).json()
    assert g.get("errors") and "admin" in g["errors"][0]["message"], g
    assert [a["asset_id"] for a in ok(admin.post(
        "/query/search", json={SECRET_FIELD + ".username": "bot"}))] == [aid]

    # writing back what a writer read keeps the stored secret
    seen = ok(writer.get("/assets/" + seg(aid)))
    seen["asset_brief_description"] = "edited by a writer"
    ok(writer.put("/assets/" + seg(aid), json=seen))
    stored = ok(admin.get("/assets/" + seg(aid)))
    assert stored[SECRET_FIELD] == SECRET and stored["asset_brief_description"] == "edited by a writer"

    # the secret never reaches the log
    time.sleep(0.2)
    assert "hunter2" not in inst.log()


def test_secret_redacted_in_uploaded_asset(assetd_factory, tmp_path):
    """An asset.json with the secret, uploaded by a writer: stored, and the
    download of a reader carries "<redacted>"."""
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    aid = uniq("zipsecret")
    data = zip_bytes([("asset.json", asset_doc(aid, **{SECRET_FIELD: SECRET})),
                      ("f.bin", b"\x00" * 100)])
    r = upload(c["writer"], data)
    assert r.status_code == 202, r.text
    st = wait_done(c["reader"], r.json()["upload_id"])
    assert st["status"] == "success", st
    for role, want in (("reader", "<redacted>"), ("admin", SECRET)):
        z = c[role].get("/zip/download/" + seg(aid))
        with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
            assert json.loads(zf.read("asset.json"))[SECRET_FIELD] == want, role
    assert "hunter2" not in inst.log()


# -------------------------------------------------------------------- audit


def audit_lines(inst):
    return [l for l in inst.log().splitlines() if "msg=audit" in l]


def test_audit_lines_for_every_change(assetd_factory, tmp_path):
    inst, toks, c = start_secured(assetd_factory, tmp_path)
    aid = uniq("audited")
    ok(c["writer"].post("/assets", json=make_asset(aid)), 201)
    ok(c["writer"].put("/assets/" + seg(aid), json={"asset_version": "v2"}))
    err(c["reader"].delete("/assets/" + seg(aid)), 403)
    ok(c["admin"].delete("/assets/" + seg(aid)))
    r = upload(c["writer"], tiny_zip(uniq("audit-up")))
    assert r.status_code == 202
    upload_id = r.json()["upload_id"]
    ok(c["admin"].post("/tokens", json={"name": "audit-tok", "role": "reader"}), 201)
    ok(c["admin"].delete("/tokens/audit-tok"))
    err(c["none"].post("/assets", json=make_asset(uniq("anon"))), 401)
    ok(c["reader"].get("/assets"))  # a read is not audited

    want = [
        ('who="writer-1"', 'action="POST"', 'target="/assets"', "status=201", "result=ok"),
        ('who="writer-1"', 'action="PUT"', f'target="/assets/{aid}"', "status=200"),
        ('who="reader-1"', 'action="DELETE"', f'target="/assets/{aid}"', "status=403",
         "result=refused"),
        ('who="admin-1"', 'action="DELETE"', f'target="/assets/{aid}"', "status=200"),
        ('who="writer-1"', 'action="POST"', 'target="/zip/upload"', "status=202",
         f'detail="upload_id={upload_id}"'),
        ('who="admin-1"', 'action="POST"', 'target="/tokens"', "status=201", 'detail="audit-tok"'),
        ('who="admin-1"', 'action="DELETE"', 'target="/tokens/audit-tok"', "status=200"),
        ('who="-"', 'action="POST"', 'target="/assets"', "status=401", "result=refused"),
    ]
    text = inst.wait_log(lambda t: t.count("msg=audit") >= len(want))
    lines = [l for l in text.splitlines() if "msg=audit" in l]
    assert len(lines) == len(want), "\n".join(lines)
    # a line is written when its request ends, which may be after the
    # client has sent the next one: match them up regardless of order
    left = list(lines)
    for parts in want:
        match = [l for l in left if all(p in l for p in parts)]
        assert match, f"no audit line with {parts}:\n" + "\n".join(lines)
        left.remove(match[0])
        assert match[0].startswith("ts=")
    assert not any("GET" in l for l in lines)
