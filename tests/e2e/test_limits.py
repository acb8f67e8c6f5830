"""
test_limits.py - the limits against abuse, each with the status and the
error envelope a client sees when it hits one:

- request headers must be complete within --header-timeout of the
  connection (or of the previous response): many slow clients that trickle
  header bytes (slowloris) do not stop a normal client from being served,
  and are disconnected; an idle kept-alive connection is closed the same
  way; a slow *body* is not cut (the idle timeout governs it);
- --max-connections: requests on connections past it get 503 with
  Retry-After and the connection is closed;
- --max-header-bytes: larger request headers get 413 (far larger ones
  libmicrohttpd's own 431);
- body limits per route (--max-body, --upload-max): 413;
- --max-concurrent-uploads: one more POST /zip/upload gets 429 with
  Retry-After, before its body is sent when it asked for 100-continue.

Timing: deadlines are asserted as "disconnected within a generous bound",
never as precise durations.
"""

import os
import select
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ASSETD_BIN, sanitizer_env
from e2e_helpers import err, make_asset, ok, raw_err, raw_http, parse_response, post_head, uniq
from zip_upload_helpers import asset_doc, upload, upload_and_wait, zip_bytes

GENEROUS = 60.0  # seconds: any deadline below is met long before this


# ---- helpers ----------------------------------------------------------------------------------

def read_response(s, timeout=30.0):
    """Reads one complete HTTP response from a blocking socket s; returns
    (status, headers, body)."""
    s.settimeout(timeout)
    buf = b""
    while True:
        if b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            if len(rest) >= length:
                return parse_response(buf)
        chunk = s.recv(65536)
        if not chunk:
            return parse_response(buf)
        buf += chunk


def wait_closed(s, timeout=GENEROUS):
    """Waits until the server closes s (end of stream or reset); returns the
    bytes received before that, or None if it is still open at timeout."""
    s.setblocking(False)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = s.recv(65536)
        except BlockingIOError:
            continue
        except (ConnectionResetError, ConnectionAbortedError):
            return got
        if not chunk:
            return got
        got += chunk
    return None


def is_closed(s):
    """True when the server has closed s (non-blocking probe)."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def spool_files(data_dir):
    """The spooled archives (each may have a manifest beside it, <id>.spec)."""
    return sorted(f for f in os.listdir(Path(data_dir) / "spool") if f.endswith(".zip"))


GET_HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def upload_head(length, expect=False, boundary="lim1t"):
    h = (f"POST /zip/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
         f"Content-Length: {length}\r\n")
    if expect:
        h += "Expect: 100-continue\r\n"
    return (h + "\r\n").encode()


# ---- header timeout (slowloris) ---------------------------------------------------------------

def test_slow_clients_do_not_stop_a_normal_client_and_are_disconnected(assetd_factory):
    """200 clients trickle header bytes (one byte per client every ~0.5 s, so
    the idle timeout never fires); a normal client is still served at once,
    and every slow client is disconnected after --header-timeout without an
    answer, while the 300 s idle timeout is far away."""
    inst = assetd_factory(args=["--header-timeout", "8", "--conn-timeout", "300"],
                          name="slowloris instance")
    n = 200
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    slow = []
    c = inst.client()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
            s.sendall(head[:1])
            s.setblocking(False)
            slow.append(s)
        sent = 1

        def trickle():
            nonlocal sent
            b = head[sent:sent + 1] or b"a"
            for s in slow:
                try:
                    s.send(b)
                except (BlockingIOError, OSError):
                    pass
            sent += 1

        trickle()
        # the normal client, while all of them hang
        ok(c.get("/healthz", timeout=10))
        a = make_asset()
        r = c.post("/assets", json=a, timeout=10)
        assert r.status_code == 201, r.text
        ok(c.get("/query/by-id/" + a["asset_id"], timeout=10))
        still_open = sum(not is_closed(s) for s in slow)
        assert still_open >= n // 2, (
            f"only {still_open} of {n} slow clients were still connected when the normal client "
            f"was served: the test did not show the normal client served while they hang")

        # keep trickling until the server has closed every slow client
        closed = {}
        deadline = time.monotonic() + GENEROUS
        while len(closed) < n and time.monotonic() < deadline:
            trickle()
            time.sleep(0.5)
            for i, s in enumerate(slow):
                if i in closed:
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    closed[i] = b""
                    continue
                if not data:
                    closed[i] = b""
                else:
                    closed[i] = data  # an answer: asserted below
        assert len(closed) == n, (
            f"{n - len(closed)} of {n} slow clients still connected {GENEROUS:.0f} s after a "
            f"header timeout of 8 s")
        answered = [d[:60] for d in closed.values() if d]
        assert not answered, f"slow clients got an answer instead of a close: {answered[:3]}"
        ok(c.get("/healthz", timeout=10))
        log = inst.wait_log(lambda t: "no complete request headers in time" in t)
        assert "no complete request headers in time" in log, "the closes are not logged"
    finally:
        for s in slow:
            s.close()
        c.close()


def test_connection_that_sends_nothing_is_closed(assetd_factory):
    inst = assetd_factory(args=["--header-timeout", "2", "--conn-timeout", "300"])
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    try:
        got = wait_closed(s)
        assert got is not None, f"a silent connection was still open {GENEROUS:.0f} s later"
        assert got == b"", f"a silent connection got an answer: {got[:100]!r}"
    finally:
        s.close()


def test_idle_keep_alive_connection_is_closed_after_header_timeout(assetd_factory):
    """After a response, the next request's headers are due within the header
    timeout too (set here through ASSETD_HEADER_TIMEOUT): an idle kept-alive
    connection is closed, cleanly, long before the idle timeout."""
    inst = assetd_factory(args=["--conn-timeout", "300"], env={"ASSETD_HEADER_TIMEOUT": "2"})
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    try:
        s.sendall(GET_HEALTHZ)
        status, hdrs, body = read_response(s)
        assert status == 200, body[:200]
        assert "close" not in hdrs.get("connection", ""), "the first response closed the connection"
        s.sendall(GET_HEALTHZ)  # a second request on the same connection is served
        status, _, _ = read_response(s)
        assert status == 200
        got = wait_closed(s)
        assert got is not None, f"an idle kept-alive connection was still open {GENEROUS:.0f} s later"
        assert got == b"", f"unexpected bytes on an idle connection: {got[:100]!r}"
    finally:
        s.close()


def test_slow_body_is_not_cut_by_the_header_timeout(assetd_factory):
    """The header deadline ends when the headers are in: a body that arrives
    slowly (within the idle timeout) is read and answered."""
    inst = assetd_factory(args=["--header-timeout", "1", "--conn-timeout", "60"])
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=30)
    try:
        s.sendall(post_head("/query/search", 2) + b"{")
        time.sleep(3)  # three header timeouts
        s.sendall(b"}")
        status, _, body = read_response(s)
        assert status == 200, body[:300]
    finally:
        s.close()


def test_stalled_body_is_closed_after_the_idle_timeout(assetd_factory):
    """The other side: a body that stops arriving is cut by --conn-timeout
    (the connection is closed; no answer can be sent mid-body)."""
    inst = assetd_factory(args=["--header-timeout", "300", "--conn-timeout", "2"])
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    try:
        s.sendall(post_head("/assets", 1000) + b'{"asset_id": "stall')
        got = wait_closed(s)
        assert got is not None, f"a stalled body was still open {GENEROUS:.0f} s later"
        assert got == b"", f"unexpected bytes: {got[:200]!r}"
    finally:
        s.close()
    c = inst.client()
    try:
        ok(c.get("/healthz"))
    finally:
        c.close()


# ---- connection limit -------------------------------------------------------------------------

def occupy(port, n, timeout=20.0):
    """n kept-alive connections, each with one request answered 200 (so the
    server has accepted and counted them). Retries while earlier connections
    (the readiness probe's) are still being closed."""
    held = []
    deadline = time.monotonic() + timeout
    while len(held) < n:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(GET_HEALTHZ)
        status, _, body = read_response(s)
        if status == 200:
            held.append(s)
            continue
        s.close()
        assert status == 503 and time.monotonic() < deadline, f"{status}: {body[:200]!r}"
        time.sleep(0.1)
    return held


def test_connections_past_max_connections_get_503_and_are_closed(assetd_factory):
    inst = assetd_factory(args=["--max-connections", "4", "--header-timeout", "120"], nports=1,
                          name="connection-limit instance")
    held = occupy(inst.port, 4)
    try:
        s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
        try:
            s.sendall(GET_HEALTHZ)
            status, hdrs, body = read_response(s)
            msg = raw_err(status, hdrs, body, 503, "unavailable")
            assert "4" in msg and "connections" in msg, msg
            assert hdrs.get("retry-after", "").isdigit(), f"no Retry-After: {hdrs}"
            assert "close" in hdrs.get("connection", "").lower(), f"not closed: {hdrs}"
            assert wait_closed(s) is not None, "the refused connection stayed open"
        finally:
            s.close()
        # a POST past the limit is refused the same way, its body unread
        status, hdrs, body = raw_http(inst.port, post_head("/assets", 2), b"{}")
        raw_err(status, hdrs, body, 503, "unavailable")
        # the held connections are still served
        held[0].sendall(GET_HEALTHZ)
        assert read_response(held[0])[0] == 200
        # once one closes, a new client is served again
        held.pop().close()
        deadline = time.monotonic() + GENEROUS
        while True:
            status, _, body = raw_http(inst.port, GET_HEALTHZ)
            if status == 200:
                break
            assert status == 503 and time.monotonic() < deadline, f"{status} {body[:200]!r}"
            time.sleep(0.1)
    finally:
        for s in held:
            s.close()


# ---- header size ------------------------------------------------------------------------------

def test_headers_over_max_header_bytes_are_413(assetd_factory):
    inst = assetd_factory(args=["--max-header-bytes", "4096"])
    c = inst.client()
    try:
        ok(c.get("/healthz", headers={"X-Pad": "a" * 3000}))
        msg = err(c.get("/healthz", headers={"X-Pad": "a" * 5000}), 413, "payload_too_large")
        assert "4096" in msg and "header" in msg, msg
        # many small headers count as much as one big one
        many = {f"X-H{i}": "b" * 100 for i in range(60)}
        err(c.post("/assets", json=make_asset(), headers=many), 413, "payload_too_large")
        # far past the limit libmicrohttpd refuses by itself: 431, and closes
        status, hdrs, body = raw_http(
            inst.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"c" * 200_000 +
            b"\r\n\r\n")
        assert status in (413, 431), f"{status}: {body[:200]!r}"
        ok(c.get("/healthz"))
    finally:
        c.close()


def test_default_header_limit(api):
    """The default (16 KiB): a big cookie is fine, 20 KB of headers are not."""
    ok(api.get("/healthz", headers={"Cookie": "s=" + "a" * 8000}))
    msg = err(api.get("/healthz", headers={"X-Pad": "a" * 20000}), 413, "payload_too_large")
    assert "16384" in msg, msg


# ---- body limits per route --------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("POST", "/assets"), ("PUT", "/assets/x"), ("POST", "/query/search"), ("POST", "/graphql")])
def test_bodies_over_max_body_are_413_with_envelope(assetd_factory, method, path):
    inst = assetd_factory(args=["--max-body", "4096"], nports=1)
    body = b'{"pad": "' + b"a" * 5000 + b'"}'
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    status, hdrs, resp = raw_http(inst.port, head, body)
    msg = raw_err(status, hdrs, resp, 413, "payload_too_large")
    assert "4096" in msg, msg
    # chunked, with no length announced: refused once the limit is passed
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                       for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
    status, hdrs, resp = raw_http(inst.port, head, chunked)
    raw_err(status, hdrs, resp, 413, "payload_too_large")


def test_upload_over_upload_max_is_413_with_envelope(assetd_factory):
    inst = assetd_factory(args=["--upload-max", "65536"], nports=1)
    c = inst.client()
    try:
        data = zip_bytes([("asset.json", asset_doc()), ("r", os.urandom(100_000))],
                         zipfile.ZIP_STORED)
        msg = err(upload(c, data), 413, "payload_too_large")
        assert "65536" in msg, msg
    finally:
        c.close()


# ---- concurrent uploads -----------------------------------------------------------------------

def test_uploads_past_max_concurrent_uploads_get_429(assetd_factory):
    inst = assetd_factory(args=["--max-concurrent-uploads", "1"], nports=1,
                          name="upload-bound instance")
    c = inst.client()
    before = spool_files(inst.data_dir)
    holder = socket.create_connection(("127.0.0.1", inst.port), timeout=30)
    try:
        # the first upload takes the one slot: its 100 Continue says the
        # server accepted the headers; then it stalls mid-body
        holder.sendall(upload_head(1_000_000, expect=True))
        assert holder.recv(4096).startswith(b"HTTP/1.1 100"), "no 100 Continue for the first upload"
        holder.sendall(b'--lim1t\r\nContent-Disposition: form-data; name="file"; '
                       b'filename="a.zip"\r\n\r\nPK\x03\x04' + b"\0" * 1000)

        # a second one that asks first: 429 before it sends a byte of its body
        s = socket.create_connection(("127.0.0.1", inst.port), timeout=30)
        try:
            s.sendall(upload_head(500_000, expect=True))
            status, hdrs, body = read_response(s)
            assert status != 100, "the server asked for the body of an upload past the bound"
            msg = raw_err(status, hdrs, body, 429, "too_many_requests")
            assert "1" in msg and "upload" in msg, msg
            assert hdrs.get("retry-after", "").isdigit(), f"no Retry-After: {hdrs}"
        finally:
            s.close()

        # one that sends its body at once (requests does): 429 after it, not spooled
        data = zip_bytes([("asset.json", asset_doc()), ("r", b"x" * 1000)])
        r = upload(c, data)
        err(r, 429, "too_many_requests")
        assert r.headers.get("Retry-After", "").isdigit(), dict(r.headers)
        assert len(spool_files(inst.data_dir)) <= len(before) + 1, "a refused upload was spooled"

        # other routes are not bounded
        ok(c.get("/healthz"))
    finally:
        holder.close()
    # the slot is free again once the first upload is gone
    deadline = time.monotonic() + GENEROUS
    while True:
        r = upload(c, zip_bytes([("asset.json", asset_doc()), ("r", b"1")]))
        if r.status_code == 202:
            break
        err(r, 429, "too_many_requests")
        assert time.monotonic() < deadline, "the upload slot was not released"
        time.sleep(0.1)
    try:
        st = upload_and_wait(c, zip_bytes([("asset.json", asset_doc()), ("r", b"2")]))
        assert st["status"] == "success", st
    finally:
        c.close()


# ---- settings ---------------------------------------------------------------------------------

def test_help_lists_the_limits():
    p = subprocess.run([str(ASSETD_BIN), "--help"], capture_output=True, text=True, timeout=30,
                       env=sanitizer_env())
    assert p.returncode == 0
    for word in ("--header-timeout", "ASSETD_HEADER_TIMEOUT", "--max-header-bytes",
                 "ASSETD_MAX_HEADER_BYTES", "--max-concurrent-uploads",
                 "ASSETD_MAX_CONCURRENT_UPLOADS", "--max-connections", "--conn-timeout"):
        assert word in p.stdout, f"--help does not mention {word}"


@pytest.mark.parametrize("flag,value", [
    ("--header-timeout", "0"), ("--header-timeout", "x"), ("--max-header-bytes", "10"),
    ("--max-concurrent-uploads", "0"), ("--max-concurrent-uploads", "-1")])
def test_bad_limit_values_are_refused(tmp_path, flag, value):
    p = subprocess.run([str(ASSETD_BIN), "--listen", "127.0.0.1:0", "--data", str(tmp_path),
                        flag, value], capture_output=True, text=True, timeout=30,
                       env=sanitizer_env(), stdin=subprocess.DEVNULL)
    assert p.returncode == 2, p.stderr
    assert flag in p.stderr, f"the message does not name {flag}: {p.stderr}"
