"""
e2e_helpers.py - shared helpers of the end-to-end tests: an HTTP client
bound to one assetd listener, builders for valid asset documents with
unique ids, envelope assertions, and a raw-socket HTTP client for requests
that `requests` cannot send (bad bytes, half bodies, huge paths).
"""

import json
import re
import select
import shutil
import socket
import subprocess
import time
import uuid
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# Canonical field order of each schema type, with the default each optional
# field takes in the canonical stored form (REQUIRED = no default).
REQUIRED = object()

ASSET_FIELDS = [
    ("asset_id", REQUIRED),
    ("asset_uri", REQUIRED),
    ("asset_version", REQUIRED),
    ("asset_profile_id", REQUIRED),
    ("asset_file_ids", REQUIRED),
    ("asset_container_uri", None),
    ("asset_policy_ids", []),
    ("asset_container_registry_creds_config", None),
    ("asset_workflow_id", None),
    ("asset_api_ids", []),
    ("asset_brief_description", None),
    ("profiles", []),
    ("policies", []),
    ("files", []),
    ("apis", []),
    ("index_mappings", []),
]
PROFILE_FIELDS = [
    ("asset_profile_id", REQUIRED),
    ("asset_type", REQUIRED),
    ("asset_sub_type", REQUIRED),
    ("asset_id", REQUIRED),
    ("asset_metadata", None),
    ("asset_creator_info", None),
    ("asset_tags", []),
    ("asset_description", None),
    ("asset_complete_docs_url", None),
    ("asset_man_page_url", None),
    ("asset_sample_input_json", None),
    ("asset_sample_output_json", None),
    ("asset_sample_input_data_url", None),
    ("asset_sample_output_data_url", None),
    ("asset_author_metadata", None),
]
POLICY_FIELDS = [
    ("asset_policy_id", REQUIRED),
    ("asset_id", REQUIRED),
    ("asset_policy_type", REQUIRED),
    ("asset_policy_rule_uri", None),
    ("asset_policy_rule_config", None),
    ("asset_policy_rule_params", None),
]
FILE_FIELDS = [
    ("asset_file_id", REQUIRED),
    ("asset_file_type", REQUIRED),
    ("asset_file_mime_type", REQUIRED),
    ("asset_file_url", REQUIRED),
    ("asset_file_metadata", None),
]
API_FIELDS = [
    ("asset_api_id", REQUIRED),
    ("asset_id", REQUIRED),
    ("asset_api_metadata", None),
    ("asset_api_svc", None),
    ("asset_api_route", None),
    ("asset_api_protocol", None),
    ("asset_protocol_specific_config", None),
    ("asset_api_man_page", None),
    ("asset_api_swagger_doc", None),
    ("asset_api_usage_samples", []),
]
INDEX_MAPPING_FIELDS = [
    ("json_doc_id", REQUIRED),
    ("mapping_field_index", REQUIRED),
    ("table_name", REQUIRED),
    ("field_name", REQUIRED),
    ("render_page_no", REQUIRED),
    ("render_order_no", REQUIRED),
]
EMBEDDED = {
    "profiles": PROFILE_FIELDS,
    "policies": POLICY_FIELDS,
    "files": FILE_FIELDS,
    "apis": API_FIELDS,
    "index_mappings": INDEX_MAPPING_FIELDS,
}


def uniq(prefix="t"):
    """A value no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def seg(value):
    """Percent-encodes one path segment (everything but unreserved chars)."""
    return quote(value, safe="")


def make_profile(asset_id, asset_type="model", sub_type="llm", tags=None, **extra):
    p = {
        "asset_profile_id": extra.pop("asset_profile_id", uniq("profile")),
        "asset_type": asset_type,
        "asset_sub_type": sub_type,
        "asset_id": asset_id,
    }
    if tags is not None:
        p["asset_tags"] = list(tags)
    p.update(extra)
    return p


def make_api(asset_id, route=None, **extra):
    a = {"asset_api_id": extra.pop("asset_api_id", uniq("api")), "asset_id": asset_id}
    if route is not None:
        a["asset_api_route"] = route
    a.update(extra)
    return a


def make_asset(asset_id=None, asset_type="model", sub_type="llm", tags=None, route=None,
               version="v1", profiles=None, **fields):
    """A valid asset with a unique asset_id (unless given): one profile with
    the given type/sub-type/tags, and one API with `route` if given. Any
    top-level field can be set or overridden through **fields."""
    asset_id = asset_id if asset_id is not None else uniq("asset")
    if profiles is None:
        profiles = [make_profile(asset_id, asset_type, sub_type, tags)]
    a = {
        "asset_id": asset_id,
        "asset_uri": f"models://example.com/{asset_id}",
        "asset_version": version,
        "asset_profile_id": profiles[0]["asset_profile_id"] if profiles else uniq("profile"),
        "asset_file_ids": [],
        "profiles": profiles,
        "policies": [],
        "files": [],
        "apis": [make_api(asset_id, route)] if route is not None else [],
        "index_mappings": [],
    }
    a.update(fields)
    return a


def canonical(doc, fields=ASSET_FIELDS):
    """The canonical stored form the server must return for a valid doc:
    schema order, every optional field present with its default."""
    out = {}
    for name, default in fields:
        if name in doc:
            v = doc[name]
            if name in EMBEDDED and fields is ASSET_FIELDS and isinstance(v, list):
                v = [canonical(x, EMBEDDED[name]) for x in v]
            out[name] = v
        elif default is REQUIRED:
            raise KeyError(f"test bug: required field {name} missing")
        else:
            out[name] = json.loads(json.dumps(default))
    return out


class Client:
    """requests.Session bound to one base URL (proxies from the environment
    are ignored: the server is on loopback)."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.s = requests.Session()
        self.s.trust_env = False

    def close(self):
        self.s.close()

    def url(self, path):
        return self.base + path

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.s.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- asset shortcuts ---------------------------------------------------
    def create(self, asset):
        """POST /assets and assert it was created; returns the response."""
        r = self.post("/assets", json=asset)
        assert r.status_code == 201, f"create {asset.get('asset_id')!r}: {r.status_code} {r.text[:500]}"
        return r

    def get_asset(self, asset_id):
        return self.get("/query/by-id/" + seg(asset_id))

    def search(self, flt, params=None):
        return self.post("/query/search", json=flt, params=params)

    def ids(self, path, params=None):
        """GET a list route, assert 200, return the asset_ids in order."""
        r = self.get(path, params=params)
        data = ok(r, 200)
        assert isinstance(data, list), f"GET {path}: data is not a list: {r.text[:300]}"
        return [a["asset_id"] for a in data]

    def search_ids(self, flt, params=None):
        r = self.search(flt, params)
        data = ok(r, 200)
        assert isinstance(data, list), f"search {flt}: data is not a list: {r.text[:300]}"
        return [a["asset_id"] for a in data]


def body_json(r):
    try:
        return r.json()
    except ValueError:
        raise AssertionError(
            f"{r.request.method} {r.request.url}: response is not JSON "
            f"(status {r.status_code}, Content-Type {r.headers.get('Content-Type')!r}): {r.text[:300]!r}")


def ok(r, status=200):
    """Asserts a success envelope with `status`; returns data."""
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url}: want {status}, got {r.status_code}: {r.text[:500]}")
    b = body_json(r)
    assert isinstance(b, dict) and b.get("success") is True, f"not a success envelope: {r.text[:500]}"
    assert "data" in b, f"success envelope without data: {r.text[:500]}"
    return b["data"]


def err(r, status, code=None, contains=None):
    """Asserts an error envelope; returns the error message.
    code may be a string or a tuple of acceptable codes; contains a string
    or list of strings that must all appear in the message."""
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url}: want {status}, got {r.status_code}: {r.text[:500]}")
    b = body_json(r)
    assert isinstance(b, dict), f"error body is not an object: {r.text[:300]}"
    assert b.get("success") is False, f"error envelope without success=false: {r.text[:300]}"
    msg = b.get("error")
    assert isinstance(msg, str) and msg, f"error envelope without an error message: {r.text[:300]}"
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert b.get("code") in codes, f"want code {' or '.join(codes)}, got {b.get('code')!r}: {r.text[:300]}"
    if contains is not None:
        for c in ([contains] if isinstance(contains, str) else contains):
            assert c in msg, f"error message {msg!r} does not contain {c!r}"
    return msg


def etag_rev(r):
    """The revision of an ETag header "<n>"."""
    tag = r.headers.get("ETag")
    assert tag is not None, f"no ETag header: {dict(r.headers)}"
    m = re.fullmatch(r'"(\d+)"', tag)
    assert m, f"ETag {tag!r} is not a quoted integer"
    n = int(m.group(1))
    assert n > 0, f"revision {n} is not positive"
    return n


def sanitizer_report(text):
    """The lines around any sanitizer report in text ('' if none)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKERS):
            return "\n".join(lines[max(0, i - 2): i + 40])
    return ""


# ---- raw HTTP ----------------------------------------------------------------

def raw_http(port, head, body=b"", timeout=30.0, chunk=65536):
    """Sends head (bytes, ending in CRLFCRLF) and body over a fresh socket,
    interleaving with reads so a server that answers early (413 before the
    body is read) is heard; returns (status, headers dict (lower-case
    names), body bytes). Send errors after the server answered are ignored."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.setblocking(False)
        out = memoryview(head + body)
        sent = 0
        resp = b""
        deadline = time.monotonic() + timeout
        closed = False
        while time.monotonic() < deadline:
            want_w = [s] if sent < len(out) else []
            r, w, _ = select.select([s], want_w, [], 0.5)
            if r:
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BlockingIOError) as e:
                    if isinstance(e, BlockingIOError):
                        continue
                    if resp:
                        break
                    raise
                if not data:
                    closed = True
                    break
                resp += data
                if _complete(resp):
                    break
                continue
            if w:
                try:
                    sent += s.send(out[sent: sent + chunk])
                except (BrokenPipeError, ConnectionResetError):
                    sent = len(out)  # the server stopped reading; wait for its answer
        return parse_response(resp, closed)
    finally:
        s.close()


def _complete(resp):
    if b"\r\n\r\n" not in resp:
        return False
    head, rest = resp.split(b"\r\n\r\n", 1)
    hdrs = _headers(head)
    status = int(head.split(b" ", 2)[1])
    if 100 <= status < 200:
        return True
    if "content-length" in hdrs:
        return len(rest) >= int(hdrs["content-length"])
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        return rest.endswith(b"0\r\n\r\n")
    return status in (204, 304)


def _headers(head):
    lines = head.decode("latin-1").split("\r\n")
    h = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            h[k.strip().lower()] = v.strip()
    return h


def parse_response(resp, closed=True):
    assert b"\r\n\r\n" in resp, f"no complete HTTP response received: {resp[:300]!r}"
    head, rest = resp.split(b"\r\n\r\n", 1)
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    assert parts[0].startswith("HTTP/"), f"bad status line {status_line!r}"
    hdrs = _headers(head)
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while rest:
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        rest = body
    return int(parts[1]), hdrs, rest


def raw_json(body):
    try:
        return json.loads(body)
    except ValueError:
        raise AssertionError(f"response body is not JSON: {body[:300]!r}")


def raw_err(status, hdrs, body, want_status, code=None):
    assert status == want_status, f"want {want_status}, got {status}: {body[:300]!r}"
    b = raw_json(body)
    assert b.get("success") is False and isinstance(b.get("error"), str) and b["error"], \
        f"not an error envelope: {body[:300]!r}"
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert b.get("code") in codes, f"want code {' or '.join(codes)}, got {b.get('code')!r}"
    return b["error"]


def post_head(path, length, ctype="application/json", extra=""):
    h = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if ctype is not None:
        h += f"Content-Type: {ctype}\r\n"
    if length is not None:
        h += f"Content-Length: {length}\r\n"
    h += extra
    h += "Connection: close\r\n\r\n"
    return h.encode()


# ---- certificates (the openssl command) ------------------------------------------------------

def openssl(*args, cwd):
    """Runs the openssl command in cwd; fails the test with its stderr."""
    exe = shutil.which("openssl")
    if not exe:
        pytest.fail("the openssl command is missing (scripts/install-deps.sh test installs it)",
                    pytrace=False)
    p = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"openssl {' '.join(args)} failed:\n{p.stderr}"


def make_pki(d, ca_name="assetd test CA"):
    """In directory d: ca.crt/ca.key (a private CA) and server.crt/server.key
    signed by it for IP 127.0.0.1 (EC P-256, valid 2 days)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", f"/CN={ca_name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
            cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=d)
    return SimpleNamespace(dir=d, ca=d / "ca.crt", cert=d / "server.crt", key=d / "server.key")
