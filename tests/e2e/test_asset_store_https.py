"""Asset sources over https, from a server whose certificate a private CA
signed: with --outbound-ca naming that CA the asset is pulled (Ready), with
the system's CAs it fails (PullingFailed naming the certificate problem),
and a CA file that cannot be read stops assetd at start with a message.

The https server is Python's http.server wrapped in ssl, on 127.0.0.1, with
a certificate for IP 127.0.0.1 from e2e_helpers.make_pki (the openssl
command); it lives as long as this module.
"""
import http.server
import ssl
import subprocess
import threading
import time

import pytest

from conftest import ASSETD_BIN, require_binary, sanitizer_env, start_instance
from e2e_helpers import make_pki, ok, seg, uniq

BODY = b"# served over https\n"


@pytest.fixture(scope="module")
def https_src(tmp_path_factory):
    """(base URL, CA file) of an https server on 127.0.0.1 serving /page.md."""
    d = tmp_path_factory.mktemp("https-src")
    pki = make_pki(d, "assetd source test CA")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path != "/page.md":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/markdown")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.cert), str(pki.key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", pki.ca
    httpd.shutdown()
    httpd.server_close()


def start(tmp_path, extra):
    return start_instance(tmp_path, "assetd (https sources)",
                          args=["--source-allow", "127.0.0.1/32", "--asset-check-interval", "1",
                                *extra])


def pull(inst, url):
    c = inst.client()
    try:
        r = c.post("/buckets", json={"name": "tls", "policy": "none"})
        assert r.status_code == 201, r.text
        aid = uniq("https")
        r = c.post("/assets", json={"asset_id": aid, "source": {
            "url": url, "mode": "single", "bucket": "tls"}})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            doc = ok(c.get("/assets/" + seg(aid)))
            if doc["status"].get("observedGeneration") == 1 and \
                    doc["status"]["phase"] in ("Ready", "Failed"):
                return c, doc
            time.sleep(0.1)
        raise AssertionError(f"{aid}: no end in 60 s; last status {doc['status']}")
    except BaseException:
        c.close()
        raise


def stop(inst):
    problems = inst.check_clean_exit()
    assert not problems, "\n".join(problems)


def test_private_ca_trusted_with_outbound_ca(tmp_path, https_src):
    base, ca = https_src
    inst = start(tmp_path, ["--outbound-ca", str(ca)])
    c, doc = pull(inst, base + "/page.md")
    try:
        assert (doc["status"]["phase"], doc["status"]["reason"]) == ("Ready", "Uploaded"), doc
        assert doc["asset_file_ids"] == ["page.md"]
        path = "/" + doc["files"][0]["asset_file_url"].split("/", 3)[3]  # /buckets/tls/files/…
        r = c.get(path)
        assert r.status_code == 200 and r.content == BODY
    finally:
        c.close()
        stop(inst)


def test_private_ca_refused_without_it(tmp_path, https_src):
    base, _ = https_src
    inst = start(tmp_path, [])
    c, doc = pull(inst, base + "/page.md")
    try:
        st = doc["status"]
        assert (st["phase"], st["reason"]) == ("Failed", "PullingFailed"), st
        assert "certificate" in st["message"].lower(), st
        assert doc["asset_file_ids"] == []
    finally:
        c.close()
        stop(inst)


def test_unreadable_outbound_ca_stops_the_start(tmp_path):
    require_binary(ASSETD_BIN, "assetd")
    missing = tmp_path / "no-such-ca.pem"
    p = subprocess.run([str(ASSETD_BIN), "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--outbound-ca", str(missing)],
                       env=sanitizer_env(None), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert f"--outbound-ca: cannot read {missing}" in p.stderr, p.stderr
