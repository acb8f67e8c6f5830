"""
test_server.py - assetd as a process: both listeners serve every route,
health and readiness, one logfmt line per request, clean shutdown on
SIGTERM (exit 0, in-flight requests finished), persistence across a
restart, command-line options and ASSETD_* environment settings.
"""

import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import ASSETD_BIN, free_ports, sanitizer_env
from e2e_helpers import (err, etag_rev, make_asset, ok, post_head, parse_response,
                         sanitizer_report, seg, uniq)


# ---- health --------------------------------------------------------------------------

def test_healthz(api):
    r = api.get("/healthz")
    assert ok(r) == {"status": "ok"}
    assert r.json() == {"success": True, "data": {"status": "ok"}}
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_readyz(api):
    # the stores this build has: meta, blobs and the job store of ZIP uploads
    assert ok(api.get("/readyz")) == {"meta": "ok", "blobs": "ok", "jobs": "ok"}


def test_readyz_names_a_failing_backend(assetd_factory):
    """A blob store that cannot be written makes /readyz answer 503 naming it,
    while /healthz (the process) stays 200 and the server keeps serving."""
    import shutil
    inst = assetd_factory(name="readyz-failure instance")
    c = inst.client()
    try:
        assert ok(c.get("/readyz")) == {"meta": "ok", "blobs": "ok", "jobs": "ok"}
        shutil.rmtree(inst.data_dir / "blobs")
        r = c.get("/readyz")
        assert r.status_code == 503
        msg = err(r, 503, "unavailable", contains=["not ready", "blob store"])
        assert "blobs" in msg, msg
        ok(c.get("/healthz"))
    finally:
        c.close()


# ---- both listeners ---------------------------------------------------------------------

def test_both_listeners_serve_every_route(server):
    assert len(server.bases) == 2
    c0, c1 = server.client(0), server.client(1)
    try:
        for mine, other in ((c0, c1), (c1, c0)):
            m = uniq("listener")
            route = f"/api/{m}/run"
            a = make_asset(asset_type=m, sub_type=m + "s", tags=[m + "t"], route=route, version=m)
            aid = a["asset_id"]
            ok(mine.post("/assets", json=a), 201)
            assert ok(mine.get("/healthz")) == {"status": "ok"}
            assert ok(mine.get("/readyz"))["meta"] == "ok"
            # reads on both listeners see the asset
            for c in (mine, other):
                assert ok(c.get("/query/by-id/" + seg(aid)))["asset_id"] == aid
                assert ok(c.get("/assets/" + seg(aid)))["asset_id"] == aid
                assert c.ids("/query/by-type/" + m) == [aid]
                assert c.ids("/query/by-sub-type/" + m + "s") == [aid]
                assert c.ids("/query/by-tag/" + m + "t") == [aid]
                assert c.ids("/query/by-api-route" + route) == [aid]
                assert c.search_ids({"asset_version": m}) == [aid]
                assert aid in c.ids("/assets")
            assert ok(other.put("/assets/" + seg(aid), json={"asset_brief_description": "x"}))[
                "asset_brief_description"] == "x"
            assert ok(mine.get("/query/by-id/" + seg(aid)))["asset_brief_description"] == "x"
            ok(other.delete("/assets/" + seg(aid)))
            err(mine.get("/query/by-id/" + seg(aid)), 404, "not_found")
            err(other.get("/nope"), 404, "not_found")
    finally:
        c0.close()
        c1.close()


# ---- request log ----------------------------------------------------------------------------

LOGFMT_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def logfmt(line):
    """The key=value pairs of a logfmt line (values unquoted)."""
    out = {}
    for k, v in LOGFMT_PAIR.findall(line):
        if v.startswith('"'):
            v = json.loads(v)
        out[k] = v
    return out


def _request_lines(text, method, path):
    """The parsed log lines of requests `method path`."""
    out = []
    for line in text.splitlines():
        f = logfmt(line)
        if f.get("method") == method and f.get("path") == path:
            out.append(f)
    return out


def test_one_log_line_per_request(assetd_factory):
    inst = assetd_factory(name="log instance")
    c = inst.client()
    try:
        a = make_asset()
        ok(c.post("/assets", json=a), 201)
        r = c.get("/query/by-id/" + a["asset_id"])
        ok(r)
        err(c.get("/query/by-id/" + a["asset_id"] + "-missing"), 404)
        err(c.get("/no-such-route"), 404)
    finally:
        c.close()

    def complete(text):
        return bool(_request_lines(text, "GET", "/no-such-route"))

    text = inst.wait_log(complete)
    checks = [("POST", "/assets", "201"),
              ("GET", "/query/by-id/" + a["asset_id"], "200"),
              ("GET", "/query/by-id/" + a["asset_id"] + "-missing", "404"),
              ("GET", "/no-such-route", "404")]
    for method, path, status in checks:
        lines = _request_lines(text, method, path)
        assert len(lines) == 1, f"want one log line for {method} {path}, found {lines}\n--- log ---\n{text[-2000:]}"
        f = lines[0]
        assert f.get("status") == status, f"log line {f}: want status={status}"
        assert re.fullmatch(r"\d+", f.get("bytes", "")), f"log line {f}: no bytes=<n>"
        assert int(f["bytes"]) > 0, f"log line {f}: bytes=0 for a response with a body"
        assert re.fullmatch(r"\d+(\.\d+)?", f.get("dur_ms", "")), f"log line {f}: no dur_ms=<ms>"
    # the successful GET logged the size of what it sent (at least the body)
    f = _request_lines(text, "GET", "/query/by-id/" + a["asset_id"])[0]
    assert int(f["bytes"]) >= len(r.content), f"log line {f}: bytes < body length {len(r.content)}"


def test_log_in_shared_server_has_create_line(api, server):
    api.create(make_asset())
    text = server.wait_log(lambda t: bool(_request_lines(t, "POST", "/assets")))
    lines = [f for f in _request_lines(text, "POST", "/assets") if f.get("status") == "201"]
    assert lines, f"no 'method=POST path=/assets status=201' line in the log:\n{text[-2000:]}"


# ---- shutdown --------------------------------------------------------------------------------

SHUTDOWN_RE = re.compile(r"shut(ting)?[ _-]?down|shutdown", re.I)


def test_sigterm_exits_0_and_logs_shutdown(assetd_factory):
    inst = assetd_factory(name="sigterm instance")
    c = inst.client()
    ok(c.get("/healthz"))  # leaves an idle keep-alive connection open
    inst.signal(signal.SIGTERM)
    rc = inst.wait_exit(15)
    c.close()
    assert rc == 0, f"exit status after SIGTERM: {rc}\n{inst.log()[-2000:]}"
    assert SHUTDOWN_RE.search(inst.log()), f"the log does not say it shut down:\n{inst.log()[-2000:]}"
    assert not sanitizer_report(inst.log())


def test_sigterm_finishes_in_flight_request(assetd_factory):
    inst = assetd_factory(name="in-flight instance")
    a = make_asset()
    body = json.dumps(a).encode()
    half = len(body) // 2
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=20)
    try:
        s.sendall(post_head("/assets", len(body)) + body[:half])
        time.sleep(0.5)  # let the server read the head and start the request
        inst.signal(signal.SIGTERM)
        time.sleep(0.5)  # the server is now shutting down with our request open
        assert inst.alive(), f"assetd exited with a request in flight:\n{inst.log()[-2000:]}"
        s.sendall(body[half:])
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    finally:
        s.close()
    status, hdrs, rbody = parse_response(resp)
    assert status == 201, f"in-flight POST answered {status}: {rbody[:300]!r}"
    rc = inst.wait_exit(15)
    assert rc == 0, f"exit status after SIGTERM: {rc}\n{inst.log()[-2000:]}"
    assert SHUTDOWN_RE.search(inst.log())
    # the in-flight create was stored
    again = assetd_factory(data=inst.data_dir, name="in-flight restart")
    c = again.client()
    try:
        assert ok(c.get("/query/by-id/" + a["asset_id"]))["asset_id"] == a["asset_id"]
    finally:
        c.close()


# ---- persistence -----------------------------------------------------------------------------

def test_restart_keeps_assets(assetd_factory):
    first = assetd_factory(name="persistence #1")
    t = uniq("persist")
    a = make_asset(asset_type=t, tags=["keep"])
    b = make_asset(asset_type=t)
    c = first.client()
    try:
        c.create(a)
        c.create(b)
        updated = ok(c.put("/assets/" + a["asset_id"], json={"asset_brief_description": "kept"}))
        rev = etag_rev(c.get("/query/by-id/" + a["asset_id"]))
        ok(c.delete("/assets/" + b["asset_id"]))
    finally:
        c.close()
    assert first.stop() == 0, first.log()[-2000:]

    second = assetd_factory(data=first.data_dir, name="persistence #2")
    c = second.client()
    try:
        r = c.get("/query/by-id/" + a["asset_id"])
        assert ok(r) == updated
        assert etag_rev(r) == rev
        err(c.get("/query/by-id/" + b["asset_id"]), 404, "not_found")
        assert c.ids("/query/by-type/" + t) == [a["asset_id"]]
        assert c.ids("/query/by-tag/keep") == [a["asset_id"]]
        assert c.search_ids({"asset_brief_description": "kept"}) == [a["asset_id"]]
        err(c.post("/assets", json=a), 400, "already_exists")
        ok(c.post("/assets", json=b), 201)
        # updates continue the revision sequence
        r = c.put("/assets/" + a["asset_id"], json={"asset_version": "v2"}, headers={"If-Match": f'"{rev}"'})
        ok(r)
        assert etag_rev(r) == rev + 1
    finally:
        c.close()


# ---- command line and environment ------------------------------------------------------------

def _run(args, env=None, timeout=15):
    try:
        p = subprocess.run([str(ASSETD_BIN)] + args, capture_output=True, text=True,
                           env=sanitizer_env(env), timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"assetd {' '.join(args)} was still running after {timeout} s "
                    f"(it should have exited)")
    out = p.stdout + p.stderr
    assert not sanitizer_report(out), sanitizer_report(out)
    return p.returncode, out


def test_help(assetd_bin):
    rc, out = _run(["--help"])
    assert rc == 0, f"--help exited {rc}: {out}"
    for word in ("--listen", "--data", "--meta", "--blobs", "--jobs", "--public-url", "ASSETD_"):
        assert word in out, f"--help does not mention {word}:\n{out}"


def test_unknown_option_fails(assetd_bin, tmp_path):
    port, = free_ports(1)
    rc, out = _run(["--listen", f"127.0.0.1:{port}", "--data", str(tmp_path), "--no-such-option"])
    assert rc != 0
    assert "no-such-option" in out, f"message does not name the option:\n{out}"


def test_bad_meta_scheme_fails(assetd_bin, tmp_path):
    port, = free_ports(1)
    rc, out = _run(["--listen", f"127.0.0.1:{port}", "--data", str(tmp_path), "--meta", "foo://x"])
    assert rc != 0
    assert "foo" in out, f"message does not name the bad URL:\n{out}"


def test_bad_listen_address_fails(assetd_bin, tmp_path):
    rc, out = _run(["--listen", "127.0.0.1:99999", "--data", str(tmp_path)])
    assert rc != 0
    assert "99999" in out, f"message does not name the bad address:\n{out}"


def test_listen_port_in_use_fails(assetd_bin, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        rc, out = _run(["--listen", f"127.0.0.1:{port}", "--data", str(tmp_path)])
    finally:
        s.close()
    assert rc != 0
    assert str(port) in out, f"message does not name the address in use:\n{out}"


def test_env_settings(assetd_factory, tmp_path):
    port, = free_ports(1)
    data = tmp_path / "envdata"
    data.mkdir()
    inst = assetd_factory.start_with([], env={"ASSETD_LISTEN": f"127.0.0.1:{port}",
                                              "ASSETD_DATA": str(data)},
                                     ports=[port], data_dir=data, name="env instance")
    a = make_asset()
    c = inst.client()
    try:
        ok(c.post("/assets", json=a), 201)
    finally:
        c.close()
    assert inst.stop() == 0, inst.log()[-2000:]
    assert any(data.iterdir()), "ASSETD_DATA directory is empty: the data went elsewhere"
    # the same directory given on the command line holds the asset
    again = assetd_factory(data=data, name="env restart")
    c = again.client()
    try:
        assert ok(c.get("/query/by-id/" + a["asset_id"]))["asset_id"] == a["asset_id"]
    finally:
        c.close()


def test_data_dir_is_used(assetd_factory, tmp_path):
    data = tmp_path / "cli-data"
    data.mkdir()
    inst = assetd_factory(data=data, name="cli data instance")
    c = inst.client()
    try:
        c.create(make_asset())
    finally:
        c.close()
    assert any(data.iterdir()), "--data directory is empty after a create"


def test_options_win_over_environment(assetd_factory, tmp_path):
    env_port, cli_port = free_ports(2)
    inst = assetd_factory.start_with(["--listen", f"127.0.0.1:{cli_port}", "--data", str(tmp_path / "d")],
                                     env={"ASSETD_LISTEN": f"127.0.0.1:{env_port}"},
                                     ports=[cli_port], name="options-over-env instance")
    c = inst.client()
    try:
        ok(c.get("/healthz"))
    finally:
        c.close()
    s = socket.socket()
    try:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", env_port)) != 0, \
            "assetd also listens on ASSETD_LISTEN although --listen was given"
    finally:
        s.close()


def test_env_listen_comma_separated(assetd_factory, tmp_path):
    p1, p2 = free_ports(2)
    inst = assetd_factory.start_with(["--data", str(tmp_path / "d")],
                                     env={"ASSETD_LISTEN": f"127.0.0.1:{p1},127.0.0.1:{p2}"},
                                     ports=[p1, p2], name="comma listen instance")
    a = make_asset()
    c1, c2 = inst.client(0), inst.client(1)
    try:
        c1.create(a)
        assert ok(c2.get("/query/by-id/" + a["asset_id"]))["asset_id"] == a["asset_id"]
    finally:
        c1.close()
        c2.close()


def test_max_body_setting(assetd_factory):
    inst = assetd_factory(args=["--max-body", "4096"], name="max-body instance")
    c = inst.client()
    try:
        small = make_asset()
        ok(c.post("/assets", json=small), 201)
        big = make_asset(asset_brief_description="x" * 5000)
        err(c.post("/assets", json=big), 413, "payload_too_large")
        err(c.get("/query/by-id/" + big["asset_id"]), 404, "not_found")
    finally:
        c.close()


def test_access_log_off(assetd_factory):
    inst = assetd_factory(args=["--access-log", "off"], name="access-log-off instance")
    c = inst.client()
    try:
        a = make_asset()
        c.create(a)
        ok(c.get("/query/by-id/" + a["asset_id"]))
    finally:
        c.close()
    assert inst.stop() == 0
    text = inst.log()
    assert not _request_lines(text, "POST", "/assets"), text[-1500:]
    assert not _request_lines(text, "GET", "/query/by-id/" + a["asset_id"]), text[-1500:]


def test_sigterm_with_stalled_client_exits_within_15s(assetd_factory):
    """A client that sent half a body and then went silent must not hold the
    shutdown beyond the 15 s a clean stop is allowed."""
    inst = assetd_factory(name="stalled-client instance")
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=30)
    try:
        s.sendall(post_head("/assets", 1000) + b'{"asset_id": "stalled')
        time.sleep(0.5)  # the server has the head and is reading the body
        inst.signal(signal.SIGTERM)
        rc = inst.wait_exit(15)
        assert rc is not None, "assetd did not exit within 15 s of SIGTERM while a client stalled mid-body"
        assert rc == 0
    finally:
        s.close()


def test_binary_garbage_connection_is_answered_or_closed(assetd_factory):
    """Bytes that are not HTTP (a NUL first) followed by the client's end of
    stream: the server answers 4xx or closes. libmicrohttpd 0.9.75 sometimes
    misses the end of stream after such bytes and holds the connection until
    the idle timeout, so the guarantee is "answered or closed within
    --conn-timeout" (3 s here), and the server keeps serving meanwhile."""
    inst = assetd_factory(args=["--conn-timeout", "3"], name="binary-garbage instance")
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    try:
        s.sendall(b"\x00\xff\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        try:
            resp = s.recv(65536)
        except socket.timeout:
            pytest.fail("no answer and no close 10 s after a garbage request and the client's EOF")
        except ConnectionResetError:
            resp = b""
    finally:
        s.close()
    if resp:
        assert resp.startswith(b"HTTP/1.") and 400 <= int(resp.split(b" ", 2)[1]) < 500, resp[:200]
    c = inst.client()
    try:
        ok(c.get("/healthz"))
    finally:
        c.close()
    inst.signal(signal.SIGTERM)
    assert inst.wait_exit(15) == 0, "assetd did not exit 0 within 15 s of SIGTERM after a garbage connection"


def test_clients_gone_mid_body_do_not_hold_shutdown(assetd_factory):
    """Clients that send half a request body and disconnect: the server keeps
    serving, and a later SIGTERM is not held up by those dead requests."""
    inst = assetd_factory(name="disconnected-clients instance")
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
        s.sendall(post_head("/assets", 1000) + b'{"asset_id": "gone-%d' % i)
        s.close()
    c = inst.client()
    try:
        ok(c.get("/healthz"))
    finally:
        c.close()
    time.sleep(0.5)  # let the server notice the closed connections
    inst.signal(signal.SIGTERM)
    rc = inst.wait_exit(15)
    assert rc is not None, (f"assetd did not exit within 15 s of SIGTERM after clients disconnected "
                            f"mid-body:\n{inst.log()[-1500:]}")
    assert rc == 0


def test_missing_data_dir_is_created_or_named(assetd_factory, tmp_path):
    data = tmp_path / "not" / "yet" / "there"
    port, = free_ports(1)
    inst = assetd_factory.start_with(["--listen", f"127.0.0.1:{port}", "--data", str(data)],
                                     ports=[port], wait=False, name="missing-data-dir instance")
    c = inst.client()
    deadline = time.monotonic() + 20
    while inst.alive() and time.monotonic() < deadline:
        try:
            if c.get("/healthz", timeout=2).status_code == 200:
                break
        except Exception:
            time.sleep(0.05)
    c.close()
    if not inst.alive():
        rc = inst.wait_exit(1)
        assert rc != 0 and str(data) in inst.log(), f"exit {rc} without naming {data}:\n{inst.log()}"
        return
    inst.wait_ready()
    c = inst.client()
    try:
        c.create(make_asset())
    finally:
        c.close()
    assert data.is_dir() and any(data.iterdir())


def test_data_path_that_is_a_file_fails(assetd_bin, tmp_path):
    f = tmp_path / "plain-file"
    f.write_text("not a directory")
    port, = free_ports(1)
    rc, out = _run(["--listen", f"127.0.0.1:{port}", "--data", str(f)])
    assert rc != 0
    assert str(f) in out, f"message does not name the data path:\n{out}"
