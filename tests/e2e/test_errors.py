"""
test_errors.py - bad input gets a 4xx with the error envelope
{"success": false, "error": ..., "code": ...} and the server keeps serving:
unknown routes, wrong methods, malformed/oversized/over-deep JSON, bad
UTF-8, wrong or missing Content-Type, over-long paths, duplicate keys.
After every test /healthz must still answer.
"""

import json
import socket

import pytest

from e2e_helpers import (err, make_asset, ok, post_head, raw_err, raw_http, raw_json, seg, uniq)


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    c = server.client(0)
    try:
        r = c.get("/healthz", timeout=10)
        assert r.status_code == 200, f"/healthz after the test: {r.status_code} {r.text[:200]}"
    finally:
        c.close()
    assert server.alive(), f"assetd died:\n{server.log()[-3000:]}"


# ---- routes and methods --------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/query/by-nothing/x", "/query", "/assets/a/b",
                                  "/query/by-id", "/", "/healthz/extra"])
def test_unknown_route_is_404_with_envelope(api, path):
    err(api.get(path), 404, "not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("PATCH", "/assets/x", {"GET", "PUT", "DELETE"}),
    ("POST", "/assets/x", {"GET", "PUT", "DELETE"}),
    ("GET", "/query/search", {"POST"}),
    ("DELETE", "/query/by-id/x", {"GET"}),
    ("PUT", "/assets", {"GET", "POST"}),
    ("DELETE", "/assets", {"GET", "POST"}),
    ("POST", "/query/by-type/model", {"GET"}),
    ("POST", "/healthz", {"GET"}),
    ("DELETE", "/readyz", {"GET"}),
])
def test_wrong_method_is_405_with_allow(api, method, path, allowed):
    r = api.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
    err(r, 405, "method_not_allowed")
    allow = r.headers.get("Allow")
    assert allow is not None, f"405 without an Allow header: {dict(r.headers)}"
    listed = {m.strip().upper() for m in allow.split(",") if m.strip()}
    assert allowed <= listed, f"Allow: {allow!r} does not list {sorted(allowed)}"
    assert method not in listed, f"Allow: {allow!r} lists the refused method {method}"


# ---- JSON bodies ------------------------------------------------------------------------

def test_malformed_json_is_400_with_line_and_column(api):
    body = '{"asset_id": "x",\n  "asset_uri": }'
    r = api.post("/assets", data=body.encode(), headers={"Content-Type": "application/json"})
    msg = err(r, 400, "invalid_json", ["line", "column"])
    assert "line 2" in msg, f"error {msg!r} does not point at line 2"


@pytest.mark.parametrize("body", [b"", b"{", b"{}}", b"nul", b"{'a': 1}", b'{"a": 1,}',
                                  b'{"a": 01}', b'{"a": NaN}'],
                         ids=["empty", "unterminated", "trailing", "bad-literal",
                              "single-quotes", "trailing-comma", "leading-zero", "nan"])
def test_not_json_is_400_invalid_json(api, body):
    r = api.post("/assets", data=body, headers={"Content-Type": "application/json"})
    err(r, 400, "invalid_json")


def test_malformed_json_on_search_and_put(api):
    hdr = {"Content-Type": "application/json"}
    err(api.post("/query/search", data=b'{"a": ', headers=hdr), 400, "invalid_json", "line")
    a = make_asset()
    api.create(a)
    err(api.put("/assets/" + seg(a["asset_id"]), data=b"{,}", headers=hdr), 400, "invalid_json", "line")


def test_text_plain_is_415(api):
    a = make_asset()
    r = api.post("/assets", data=json.dumps(a).encode(), headers={"Content-Type": "text/plain"})
    err(r, 415, "unsupported_media_type")
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_missing_content_type_is_415(api):
    a = make_asset()
    r = api.post("/assets", data=json.dumps(a).encode())
    assert "Content-Type" not in r.request.headers
    err(r, 415, "unsupported_media_type")
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_wrong_content_type_on_put_and_search(api):
    a = make_asset()
    api.create(a)
    err(api.put("/assets/" + seg(a["asset_id"]), data=b'{"asset_version": "v2"}',
                headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert ok(api.get_asset(a["asset_id"]))["asset_version"] == "v1"
    err(api.post("/query/search", data=b"{}", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        415, "unsupported_media_type")


def test_body_over_1mib_is_413(api, server):
    a = make_asset()
    a["asset_brief_description"] = "x" * (1024 * 1024 + 100)
    body = json.dumps(a).encode()
    status, hdrs, resp = raw_http(server.port, post_head("/assets", len(body)), body)
    raw_err(status, hdrs, resp, 413, "payload_too_large")
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_chunked_body_over_1mib_is_413(api, server):
    a = make_asset()
    a["asset_brief_description"] = "y" * (1024 * 1024 + 100)
    body = json.dumps(a).encode()
    chunked = b""
    for i in range(0, len(body), 32768):
        part = body[i:i + 32768]
        chunked += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    chunked += b"0\r\n\r\n"
    head = post_head("/assets", None, extra="Transfer-Encoding: chunked\r\n")
    status, hdrs, resp = raw_http(server.port, head, chunked)
    raw_err(status, hdrs, resp, 413, "payload_too_large")
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_body_just_under_1mib_is_accepted(api):
    a = make_asset()
    a["asset_brief_description"] = "z" * (1024 * 1024 - 4096)
    body = json.dumps(a).encode()
    assert len(body) < 1024 * 1024
    r = api.post("/assets", data=body, headers={"Content-Type": "application/json"})
    assert len(ok(r, 201)["asset_brief_description"]) == 1024 * 1024 - 4096


def _deep(n):
    v = "leaf"
    for _ in range(n):
        v = {"k": v}
    return v


def test_json_nested_deeper_than_64_is_400(api):
    a = make_asset()
    a["asset_container_registry_creds_config"] = _deep(100)
    body = json.dumps(a).encode()
    r = api.post("/assets", data=body, headers={"Content-Type": "application/json"})
    err(r, 400, ("invalid_json", "validation_failed", "bad_request"))
    err(api.get_asset(a["asset_id"]), 404, "not_found")


def test_json_deep_arrays_are_400(api):
    body = b"[" * 100000 + b"]" * 100000
    r = api.post("/query/search", data=body, headers={"Content-Type": "application/json"})
    err(r, 400, ("invalid_json", "invalid_filter", "bad_request"))


def test_json_nested_within_limit_is_accepted(api):
    a = make_asset()
    a["asset_container_registry_creds_config"] = _deep(40)
    r = api.post("/assets", json=a)
    assert ok(r, 201)["asset_container_registry_creds_config"] == _deep(40)


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82"],
                         ids=["ff-fe", "bad-continuation", "surrogate", "truncated"])
def test_invalid_utf8_in_json_string_is_400(api, bad):
    aid = uniq("utf8")
    body = (b'{"asset_id": "' + aid.encode() + b'", "asset_uri": "u://' + bad + b'", '
            b'"asset_version": "v1", "asset_profile_id": "p", "asset_file_ids": []}')
    r = api.post("/assets", data=body, headers={"Content-Type": "application/json"})
    err(r, 400, "invalid_json")
    err(api.get_asset(aid), 404, "not_found")


def test_escaped_lone_surrogate_is_rejected_or_kept_valid(api):
    # "\\ud800" alone is not a character; the server must refuse it or store valid UTF-8.
    aid = uniq("sur")
    body = ('{"asset_id": "%s", "asset_uri": "u://\\ud800", "asset_version": "v1", '
            '"asset_profile_id": "p", "asset_file_ids": []}' % aid).encode()
    r = api.post("/assets", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (201, 400), r.text[:300]
    if r.status_code == 400:
        err(r, 400, "invalid_json")
    else:
        r.content.decode("utf-8")  # must be valid UTF-8


def test_duplicate_keys_are_400_invalid_json(api):
    aid = uniq("dup")
    body = ('{"asset_id": "%s", "asset_uri": "u://1", "asset_uri": "u://2", "asset_version": "v1", '
            '"asset_profile_id": "p", "asset_file_ids": []}' % aid).encode()
    r = api.post("/assets", data=body, headers={"Content-Type": "application/json"})
    err(r, 400, "invalid_json", "asset_uri")
    err(api.get_asset(aid), 404, "not_found")


def test_duplicate_keys_in_filter_are_400(api):
    r = api.post("/query/search", data=b'{"asset_id": "a", "asset_id": "b"}',
                 headers={"Content-Type": "application/json"})
    err(r, 400, "invalid_json")


def test_nul_in_json_string_is_handled(api):
    aid = uniq("nul")
    a = make_asset(aid, asset_brief_description="a\u0000b")
    r = api.post("/assets", json=a)
    # either refused with a clear message or stored exactly
    if r.status_code == 201:
        assert ok(api.get_asset(aid))["asset_brief_description"] == "a\u0000b"
    else:
        err(r, 400)


# ---- paths --------------------------------------------------------------------------------

def test_path_over_4kib_is_414(api):
    r = api.get("/query/by-id/" + "a" * 5000)
    err(r, 414, "uri_too_long")


def test_path_over_4kib_raw(server):
    head = f"GET /query/by-type/{'b' * 8000} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, hdrs, body = raw_http(server.port, head)
    raw_err(status, hdrs, body, 414, "uri_too_long")


def test_path_just_under_4kib_is_served(api):
    path = "/query/by-type/"
    r = api.get(path + "c" * (4000 - len(path)))
    assert ok(r) == []


@pytest.mark.parametrize("bad", ["%FF", "%C3%28", "%ED%A0%80"], ids=["ff", "bad-cont", "surrogate"])
def test_bad_utf8_in_path_is_400(api, bad):
    err(api.get("/query/by-id/" + uniq("u") + bad), 400, "bad_request")
    err(api.get("/query/by-type/" + bad), 400, "bad_request")


@pytest.mark.parametrize("path", ["/query/by-id/abc%zz", "/query/by-id/abc%4", "/query/by-type/%"])
def test_bad_percent_escape_in_path_is_400(server, path):
    # sent raw: requests would "fix" the escape into %25
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, hdrs, body = raw_http(server.port, head)
    raw_err(status, hdrs, body, 400, "bad_request")


def test_nul_in_path_is_4xx(api):
    r = api.get("/query/by-id/a%00b")
    assert r.status_code in (400, 404), r.text[:200]
    err(r, r.status_code)


@pytest.mark.parametrize("garbage", [b"BLAH\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                                     b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n"],
                         ids=["word", "method-only", "version", "bad-header"])
def test_garbage_request_does_not_kill_server(server, garbage):
    # the answer may be a 4xx or a closed connection; the server must keep serving (checked after)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        s.sendall(garbage)
        s.shutdown(socket.SHUT_WR)
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except ConnectionResetError:
        resp = b""
    finally:
        s.close()
    if resp:
        status = int(resp.split(b" ", 2)[1])
        assert 400 <= status < 600 and status != 500, resp[:200]


def test_error_response_content_type_is_json(api):
    r = api.get("/nope")
    err(r, 404, "not_found")
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_raw_413_envelope_is_json(server):
    # same as above, via a 100-continue client (as curl does for big bodies)
    n = 2 * 1024 * 1024
    head = post_head("/assets", n, extra="Expect: 100-continue\r\n")
    status, hdrs, body = raw_http(server.port, head)
    if status == 100:
        pytest.fail("server sent 100 Continue for a body over the limit instead of 413")
    raw_err(status, hdrs, body, 413, "payload_too_large")
    assert raw_json(body)["success"] is False


@pytest.mark.parametrize("path", ["/query/by-id/a%2Fb", "/assets/a%2Fb"])
def test_encoded_slash_in_id_is_not_found_or_bad_request(api, path):
    r = api.get(path)
    assert r.status_code in (400, 404), r.text[:200]
    err(r, r.status_code, ("not_found", "bad_request"))


def test_chunked_valid_body_is_accepted(api):
    a = make_asset()
    body = json.dumps(a).encode()

    def gen():
        for i in range(0, len(body), 100):
            yield body[i:i + 100]

    r = api.post("/assets", data=gen(), headers={"Content-Type": "application/json"})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert ok(r, 201)["asset_id"] == a["asset_id"]


def test_put_over_1mib_is_413_and_changes_nothing(api, server):
    a = make_asset()
    api.create(a)
    body = json.dumps({"asset_brief_description": "p" * (1024 * 1024 + 10)}).encode()
    head = post_head("/assets/" + seg(a["asset_id"]), len(body)).replace(b"POST ", b"PUT ", 1)
    status, hdrs, resp = raw_http(server.port, head, body)
    raw_err(status, hdrs, resp, 413, "payload_too_large")
    assert ok(api.get_asset(a["asset_id"]))["asset_brief_description"] is None


def test_search_over_1mib_is_413(server):
    body = json.dumps({"asset_id": {"$in": ["q" * 1000] * 1100}}).encode()
    assert len(body) > 1024 * 1024
    status, hdrs, resp = raw_http(server.port, post_head("/query/search", len(body)), body)
    raw_err(status, hdrs, resp, 413, "payload_too_large")
