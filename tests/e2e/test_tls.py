"""
test_tls.py - HTTPS: assetd with --tls-cert/--tls-key (or ASSETD_TLS_CERT/
ASSETD_TLS_KEY) serves TLS through libmicrohttpd; clients that trust the CA
are served, clients that do not are refused, plain HTTP to the TLS port gets
no HTTP answer; assetctl works with --cacert (or ASSETCTL_CACERT) and fails
without it; a wrong certificate or key is a clear start-up error.

A private CA and a server certificate for IP 127.0.0.1 are made with the
`openssl` command in a temporary directory for this module.
"""

import json
import socket
import ssl
import subprocess
import time
import warnings
import zipfile
from types import SimpleNamespace

import pytest
import requests

from conftest import ASSETD_BIN, free_ports, sanitizer_env
from e2e_helpers import canonical, make_asset, make_pki, ok, openssl, sanitizer_report

START_TIMEOUT = 20.0


# ---- certificates -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """ca.crt (a private CA), server.crt/server.key (signed by it, for IP
    127.0.0.1), other.key (an unrelated key), enc.key (server.key encrypted)."""
    d = tmp_path_factory.mktemp("pki")
    base = make_pki(d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "other.key", cwd=d)
    openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret", "-out", "enc.key",
            cwd=d)
    return SimpleNamespace(**vars(base), other_key=d / "other.key", enc_key=d / "enc.key")


def session(ca):
    s = requests.Session()
    s.trust_env = False
    s.verify = str(ca) if ca else True
    return s


def https(inst, path=""):
    return f"https://127.0.0.1:{inst.port}{path}"


def wait_https(inst, ca):
    """Waits until the TLS instance answers GET /healthz over HTTPS."""
    deadline = time.monotonic() + START_TIMEOUT
    last = None
    with session(ca) as s:
        while time.monotonic() < deadline:
            if not inst.alive():
                pytest.fail(f"assetd exited {inst.proc.returncode} before answering over TLS:\n"
                            f"{inst.log()}", pytrace=False)
            try:
                r = s.get(https(inst, "/healthz"), timeout=2)
                if r.status_code == 200:
                    return
                last = f"status {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
    pytest.fail(f"no HTTPS answer within {START_TIMEOUT} s (last: {last})\n{inst.log()}",
                pytrace=False)


@pytest.fixture
def tls_server(assetd_factory, pki):
    inst = assetd_factory(args=["--tls-cert", str(pki.cert), "--tls-key", str(pki.key),
                                "--header-timeout", "3"],
                          nports=1, wait=False, name="TLS instance")
    wait_https(inst, pki.ca)
    return inst


@pytest.fixture
def ctl(assetctl_bin, tmp_path):
    """ctl(*args, env=...) -> (exit status, stdout, stderr); no CA unless given."""
    def run(*args, env=None, timeout=120):
        e = {"ASSETCTL_CACERT": "", "ASSETCTL_SERVER": ""}
        e.update(env or {})
        p = subprocess.run([str(assetctl_bin), *[str(a) for a in args]], capture_output=True,
                           text=True, timeout=timeout, cwd=tmp_path, env=sanitizer_env(e))
        report = sanitizer_report(p.stderr)
        assert not report, f"assetctl sanitizer report:\n{report}"
        return p.returncode, p.stdout, p.stderr
    return run


# ---- serving ----------------------------------------------------------------------------------

def test_https_with_the_ca_is_served(tls_server, pki):
    with session(pki.ca) as s:
        ok(s.get(https(tls_server, "/healthz")))
        a = make_asset()
        r = s.post(https(tls_server, "/assets"), json=a)
        assert r.status_code == 201, r.text
        assert ok(s.get(https(tls_server, "/query/by-id/" + a["asset_id"]))) == canonical(a)
    # file URLs default to https:// when TLS is on
    log = tls_server.log()
    assert f'public_url="https://127.0.0.1:{tls_server.port}"' in log, log[-2000:]


def test_tls_1_2_and_1_3_are_served(tls_server, pki):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        ctx.minimum_version = ctx.maximum_version = version
        with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.version() == version.name.replace("_", ".")


def test_tls_1_1_is_refused(tls_server, pki):
    """A client that offers only TLS 1.1 (allowed on its side at security
    level 0) gets no session."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(pki.ca))
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ssl.SSLError, ValueError) as e:
            pytest.skip(f"this Python/OpenSSL cannot offer TLS 1.1 as a client ({e}): nothing to test")
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError) as info:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                pytest.fail(f"a TLS 1.1 session was established ({s.version()})")
    if "NO_PROTOCOLS_AVAILABLE" in str(info.value):
        pytest.skip(f"the client refused TLS 1.1 itself ({info.value}): nothing to test")


def test_https_without_the_ca_fails(tls_server):
    with session(None) as s:
        with pytest.raises(requests.exceptions.SSLError):
            s.get(https(tls_server, "/healthz"), timeout=10)


def test_plain_http_to_the_tls_port_gets_no_http_answer(tls_server, pki):
    s = socket.create_connection(("127.0.0.1", tls_server.port), timeout=10)
    got = b""
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    assert not got.startswith(b"HTTP/"), f"plain HTTP was answered over the TLS port: {got[:200]!r}"
    with session(None) as plain:
        with pytest.raises(requests.exceptions.ConnectionError):
            plain.get(f"http://127.0.0.1:{tls_server.port}/healthz", timeout=10)
    with session(pki.ca) as ss:
        ok(ss.get(https(tls_server, "/healthz")))


def test_stalled_tls_clients_are_closed_after_the_header_timeout(tls_server, pki):
    """A connection that never starts the handshake, and one that completes
    it but sends no request, are both closed (header timeout 3 s here)."""
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=60)
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_server.port), timeout=60),
                          server_hostname="127.0.0.1")
    try:
        try:
            assert raw.recv(100) == b""
        except ConnectionResetError:
            pass
        try:
            assert tls.recv(100) == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
    except socket.timeout:
        pytest.fail("a stalled TLS connection was still open 60 s after a header timeout of 3 s")
    finally:
        raw.close()
        tls.close()


def test_tls_from_the_environment(assetd_factory, pki):
    inst = assetd_factory(env={"ASSETD_TLS_CERT": str(pki.cert), "ASSETD_TLS_KEY": str(pki.key)},
                          nports=1, wait=False, name="TLS env instance")
    wait_https(inst, pki.ca)


# ---- assetctl ---------------------------------------------------------------------------------

def test_assetctl_with_cacert(tls_server, pki, ctl, tmp_path):
    a = make_asset()
    doc = tmp_path / "a.json"
    doc.write_text(json.dumps(a))
    rc, out, errout = ctl("--server", https(tls_server), "--cacert", pki.ca, "create", "-f", doc)
    assert rc == 0, errout
    assert json.loads(out) == canonical(a)
    # ASSETCTL_CACERT does the same
    rc, out, errout = ctl("--server", https(tls_server), "get", a["asset_id"],
                          env={"ASSETCTL_CACERT": str(pki.ca)})
    assert rc == 0, errout
    assert json.loads(out)["asset_id"] == a["asset_id"]


def test_assetctl_upload_and_download_over_https(tls_server, pki, ctl, tmp_path):
    a = make_asset()
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("asset.json", json.dumps(a))
        zf.writestr("weights.bin", b"w" * 5000)
    base = ["--server", https(tls_server), "--cacert", pki.ca]
    rc, out, errout = ctl(*base, "upload", z, "--wait")
    assert rc == 0, errout
    rc, out, errout = ctl(*base, "download", a["asset_id"], "-o", tmp_path / "back.zip")
    assert rc == 0, errout
    with zipfile.ZipFile(tmp_path / "back.zip") as zf:
        assert zf.read("weights.bin") == b"w" * 5000
        doc = json.loads(zf.read("asset.json"))
    urls = [f["asset_file_url"] for f in doc["files"]]
    assert urls and all(u.startswith(https(tls_server)) for u in urls), urls
    # the file itself over HTTPS (a file response, sendfile without TLS)
    with session(pki.ca) as s:
        r = s.get([u for u in urls if u.endswith("weights.bin")][0])
        assert r.status_code == 200 and r.content == b"w" * 5000, r.status_code


def test_big_upload_over_https(tls_server, pki, tmp_path):
    """64 MiB over TLS: more than the upload's ring holds, so the request
    is suspended and resumed many times while the upload's thread stores
    the entries; bytes that GnuTLS has already decrypted must not be
    stranded across a suspension."""
    import hashlib
    import os
    a = make_asset()
    z = tmp_path / "big.zip"
    bodies = {f"w{i}.bin": os.urandom(16 << 20) for i in range(4)}
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("asset.json", json.dumps(a))
        for name, body in bodies.items():
            zf.writestr(name, body)
    with session(pki.ca) as s, open(z, "rb") as f:
        r = s.post(https(tls_server, "/zip/upload"), files={"file": ("big.zip", f, "application/zip")},
                   timeout=300)
        assert r.status_code == 202, r.text
        uid = r.json()["upload_id"]
        deadline = time.monotonic() + 120
        while True:
            st = s.get(https(tls_server, f"/zip/status/{uid}")).json()
            if st["status"] not in ("queued", "processing"):
                break
            assert time.monotonic() < deadline, st
            time.sleep(0.1)
        assert st["status"] == "success", st
        doc = s.get(https(tls_server, f"/assets/{a['asset_id']}")).json()["data"]
    got = {f["asset_file_id"]: f["asset_file_metadata"]["sha256"] for f in doc["files"]}
    assert got == {n: hashlib.sha256(b).hexdigest() for n, b in bodies.items()}


@pytest.mark.parametrize("command", [["list"], ["status", "0a5e3de1-1fcd-4a65-9c83-18c5c0b4d612"]])
def test_assetctl_without_cacert_fails(tls_server, ctl, command):
    rc, out, errout = ctl("--server", https(tls_server), *command)
    assert rc == 2, (rc, out, errout)
    assert "certificate" in errout and "--cacert" in errout, errout


def test_assetctl_cacert_missing_file(tls_server, ctl, tmp_path):
    rc, _, errout = ctl("--server", https(tls_server), "--cacert", tmp_path / "nope.pem", "list")
    assert rc == 1
    assert "nope.pem" in errout, errout


def test_assetctl_help_lists_cacert(ctl):
    rc, out, _ = ctl("--help")
    assert rc == 0 and "--cacert" in out and "ASSETCTL_CACERT" in out, out


# ---- start-up errors --------------------------------------------------------------------------

def start_fails(tmp_path, args, env=None, timeout=30):
    port, = free_ports(1)
    argv = [str(ASSETD_BIN), "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "data"),
            *[str(a) for a in args]]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=sanitizer_env(env), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"assetd {args} started instead of refusing to")
    out = p.stdout + p.stderr
    assert not sanitizer_report(out), sanitizer_report(out)
    assert p.returncode != 0, f"assetd {args} exited 0:\n{out}"
    return p.returncode, out


def test_cert_without_key_is_refused(tmp_path, pki):
    rc, out = start_fails(tmp_path, ["--tls-cert", pki.cert])
    assert rc == 2 and "--tls-key" in out, out
    rc, out = start_fails(tmp_path, ["--tls-key", pki.key])
    assert rc == 2 and "--tls-cert" in out, out
    rc, out = start_fails(tmp_path, [], env={"ASSETD_TLS_CERT": str(pki.cert)})
    assert rc == 2 and "--tls-key" in out, out


@pytest.mark.parametrize("case,words", [
    ("missing cert", ["nope.crt", "No such file"]),
    ("missing key", ["nope.key", "No such file"]),
    ("cert is a directory", ["not a regular file"]),
    ("key of another certificate", ["other.key", "does not belong", "server.crt"]),
    ("cert file holds a key", ["no PEM certificate"]),
    ("key file holds a certificate", ["no PEM private key"]),
    ("encrypted key", ["enc.key", "encrypted"]),
])
def test_bad_certificate_or_key_is_a_clear_start_up_error(tmp_path, pki, case, words):
    cert, key = pki.cert, pki.key
    if case == "missing cert":
        cert = pki.dir / "nope.crt"
    elif case == "missing key":
        key = pki.dir / "nope.key"
    elif case == "cert is a directory":
        cert = pki.dir
    elif case == "key of another certificate":
        key = pki.other_key
    elif case == "cert file holds a key":
        cert = pki.key
    elif case == "key file holds a certificate":
        key = pki.cert
    elif case == "encrypted key":
        key = pki.enc_key
    _, out = start_fails(tmp_path, ["--tls-cert", cert, "--tls-key", key])
    for w in words:
        assert w in out, f"{case}: the message does not say {w!r}:\n{out}"
    assert "secret" not in out


def test_help_lists_tls_settings(ctl):
    p = subprocess.run([str(ASSETD_BIN), "--help"], capture_output=True, text=True, timeout=30,
                       env=sanitizer_env())
    for word in ("--tls-cert", "--tls-key", "ASSETD_TLS_CERT", "ASSETD_TLS_KEY"):
        assert word in p.stdout, f"--help does not mention {word}"
