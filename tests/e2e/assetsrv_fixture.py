"""
assetsrv_fixture.py - the `assetsrv` pytest fixture: tests/servers/assetsrv.py
(source files to pull and webhook services, see its docstring) started on a
free 127.0.0.1 port in a temporary directory, once per session, and stopped
at the end (it also stops by itself if pytest dies).

    def test_x(assetsrv):
        assetsrv.base_url                    # http://127.0.0.1:PORT
        assetsrv.url("/files/docs.tar.gz")   # base_url + path
        assetsrv.file_url("docs.zip")        # /files/<name>
        assetsrv.hook_url("validate", "fail", message="no title")
        assetsrv.service_template            # for --service-url-template
        assetsrv.clear()                     # forget recorded requests
        assetsrv.requests("mutate")          # what the mutation service received
        assetsrv.put_file("page.md", b"...") # change a source's bytes
        assetsrv.fixture_bytes("docs.zip")   # the bytes it serves

Requests to it never go through a proxy (trust_env off), whatever the
environment says. conftest.py imports the fixture, so every test module
can ask for it.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

SCRIPT = Path(__file__).resolve().parents[1] / "servers" / "assetsrv.py"
START_TIMEOUT = 30.0


class AssetSrv:
    """A running assetsrv.py and a small client for its control routes."""

    def __init__(self, proc, port, root):
        self.proc = proc
        self.port = port
        self.root = Path(root)
        self.base_url = "http://127.0.0.1:%d" % port
        self.service_template = self.base_url + "/{namespace}/{name}{endpoint}"
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy for loopback

    def url(self, path):
        return self.base_url + path

    def file_url(self, name):
        return self.url("/files/" + urllib.parse.quote(name))

    def hook_url(self, kind, mode=None, **query):
        """URL of a webhook: kind validate|mutate|metadata, mode as in the
        server's docstring (None: the default), query e.g. delay=3."""
        path = "/" + kind + ("/" + mode if mode else "")
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.url(path)

    def requests(self, kind=None):
        """Recorded requests, oldest first: dicts with method, path, query,
        kind, mode, namespace, name, content_type, body (JSON or None), raw,
        length. kind: validate, mutate, metadata, source, admin."""
        params = {"kind": kind} if kind else None
        r = self.http.get(self.url("/_requests"), params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def clear(self):
        self.http.delete(self.url("/_requests"), timeout=10).raise_for_status()

    def put_file(self, name, data):
        r = self.http.put(self.file_url(name), data=data, timeout=30)
        r.raise_for_status()
        return r.status_code

    def delete_file(self, name):
        return self.http.delete(self.file_url(name), timeout=10).status_code

    def fixture_bytes(self, name):
        return (self.root / "files" / name).read_bytes()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()


def start_assetsrv(root):
    """Starts assetsrv.py with its fixtures in root (a directory that
    exists); returns an AssetSrv once it listens."""
    port_file = os.path.join(root, "port")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--root", str(root), "--port-file", port_file,
         "--parent-pid", str(os.getpid())],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "assetsrv.log"), "wb"))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = Path(root, "assetsrv.log").read_text(errors="replace")
            raise RuntimeError("assetsrv.py exited with %s:\n%s" % (proc.returncode, log))
        try:
            port = int(Path(port_file).read_text().strip())
            return AssetSrv(proc, port, root)
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("assetsrv.py did not listen within %.0f s" % START_TIMEOUT)


@pytest.fixture(scope="session")
def assetsrv():
    root = tempfile.mkdtemp(prefix="assetsrv-e2e-")
    srv = start_assetsrv(root)
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)
