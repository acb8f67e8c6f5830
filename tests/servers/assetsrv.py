#!/usr/bin/env python3
"""
assetsrv.py - the local HTTP server of the asset store's tests: source files
to pull (single files, zips, every tar flavour, hostile archives, slow, big,
redirects, errors) and the validation, mutation and metadata webhook
services, answering every verdict the controller must handle. Standard
library only; binds 127.0.0.1 on a free port.

    python3 tests/servers/assetsrv.py [--root DIR] [--port-file FILE]
                                      [--parent-pid PID] [--max-lifetime S]

It prints its port on stdout (one line) once it listens, and writes it to
--port-file (atomically) when given. It stops by itself when --parent-pid
is gone (default: the process that started it) or after --max-lifetime
seconds (default 3600), and on SIGTERM/SIGINT.

Sources (GET and HEAD; bytes from DIR/files, generated at start when DIR is
not given or empty):
  /files/<name>            a fixture: hello.txt, page.md, binary.bin,
                           docs.zip, docs.tar, docs.tar.gz, docs.tgz,
                           docs.tar.bz2, docs.tar.xz (README.md, docs/a.md,
                           docs/b.md, docs/nested/c.md, img/logo.png,
                           api/openapi.yaml), evil-dotdot.{zip,tar.gz},
                           evil-abs.{zip,tar.gz}, evil-symlink.{zip,tar.gz},
                           bomb.{zip,tar.gz} (10 MiB of zeros, ratio ~1000),
                           many.{zip,tar.gz} (2000 entries)
  PUT /files/<name>        replaces (or creates) a fixture's bytes; 201/204
  DELETE /files/<name>     removes it; 204
  /slow?bytes=N&delay=S    declares N bytes (default 1000), sends one byte
                           every S seconds (default 0.5)
  /big?declare=N&send=M    declares Content-Length N (default 10 GiB), sends
                           M zero bytes (default 1 MiB) and closes
  /stream?bytes=N          N bytes (default 1 MiB) with no Content-Length
  /redirect/<n>/<rest>     n redirects, then /files/<rest>: 302 to
                           /redirect/<n-1>/<rest>, /redirect/1/<rest> to
                           /files/<rest>
  /redirect-to?url=U       302 to U (any scheme, any host: the client must
                           refuse what it may not follow)
  /status/<code>           answers that status with a short text body

Webhooks (POST, JSON in; the mode comes from the path /<kind>/<mode>, the
query ?mode=, or the request's parameters.mode, in that order):
  /validate    pass (200), fail (422 {"message": ...}), fail-text (422
               text), error (500), slow (sleeps delay=S, default 5, then
               200), big (200 with size=N bytes, default 1 MiB), bigdecl
               (declares a 10 GiB body), flaky (500 for the first
               times=N calls with the same key=K, then 200), auto (the
               default: 422 when the content holds "INVALID", else 200)
  /mutate      marker (default: 200, the content plus the line
               "<!-- mutated by assetsrv -->" or marker=TEXT), same (304),
               replace (200 with content=TEXT), fail, fail-text, error,
               slow, big, bigdecl, flaky
  /metadata    frontmatter (default: 200 {"data": [{"filePath", "metadata"}]}
               with each file's "key: value" front matter, plus "length"),
               map (the same as {"<name>": metadata}), extra (also names a
               file that was not sent), malformed (200 "{not json"), error,
               slow, big, bigdecl, flaky
  Service-style paths /<namespace>/<name>/<kind>[/<mode>] reach the same
  handlers, so --service-url-template
  http://127.0.0.1:PORT/{namespace}/{name}{endpoint} works.

Recording: every request but /_requests is recorded; GET /_requests answers
[{"method", "path", "query", "kind", "mode", "namespace", "name",
"content_type", "body" (parsed JSON or null), "raw" (text, cut at 64 KiB),
"length"}] in order of arrival (?kind=validate filters), DELETE /_requests
clears the record.
"""

import argparse
import io
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("validate", "mutate", "metadata")
MUTATION_MARKER = "<!-- mutated by assetsrv -->"
RAW_KEEP = 65536
BODY_MAX = 64 << 20  # a request body larger than this is refused (413)

# ---------------------------------------------------------------- fixtures

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000185d6c6b10000000049454e44ae426082"
)

DOCS_TREE = {
    "README.md": "---\ntitle: Readme\ntype: overview\n---\n# Docs\n\nThe index.\n",
    "docs/a.md": "---\ntitle: Page A\norder: 1\n---\n# A\n\nFirst page.\n",
    "docs/b.md": "---\ntitle: Page B\norder: 2\n---\n# B\n\nSecond page.\n",
    "docs/nested/c.md": "# C\n\nNo front matter here.\n",
    "img/logo.png": PNG,
    "api/openapi.yaml": "openapi: 3.0.0\ninfo:\n  title: Test API\n  version: '1'\npaths: {}\n",
}


def _bytes(v):
    return v if isinstance(v, bytes) else v.encode()


def make_zip(entries, symlinks=(), compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            z.writestr(info, _bytes(data))
        for name, target in symlinks:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix, so the mode bits count
            info.external_attr = (0o120777) << 16
            z.writestr(info, target)
    return buf.getvalue()


def make_tar(entries, mode, symlinks=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            data = _bytes(data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
        for name, target in symlinks:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            info.mtime = 1704067200
            t.addfile(info)
    return buf.getvalue()


def generate_fixtures(files_dir):
    """Writes every fixture named in the module doc into files_dir."""
    os.makedirs(files_dir, exist_ok=True)
    docs = sorted(DOCS_TREE.items())
    out = {
        "hello.txt": b"Hello from assetsrv.\n",
        "page.md": DOCS_TREE["docs/a.md"].encode(),
        "binary.bin": bytes(range(256)) * 16 + bytes([0xFF, 0xFE, 0x00, 0xC3]),
        "docs.zip": make_zip(docs),
        "docs.tar": make_tar(docs, "w"),
        "docs.tar.gz": make_tar(docs, "w:gz"),
        "docs.tgz": make_tar(docs, "w:gz"),
        "docs.tar.bz2": make_tar(docs, "w:bz2"),
        "docs.tar.xz": make_tar(docs, "w:xz"),
    }
    dotdot = [("README.md", "ok\n"), ("../evil.txt", "escaped\n"), ("docs/../../evil2.txt", "x\n")]
    out["evil-dotdot.zip"] = make_zip(dotdot)
    out["evil-dotdot.tar.gz"] = make_tar(dotdot, "w:gz")
    absolute = [("README.md", "ok\n"), ("/tmp/assetsrv-evil.txt", "absolute\n")]
    out["evil-abs.zip"] = make_zip(absolute)
    out["evil-abs.tar.gz"] = make_tar(absolute, "w:gz")
    link = [("README.md", "ok\n")]
    out["evil-symlink.zip"] = make_zip(link, symlinks=[("passwd", "/etc/passwd")])
    out["evil-symlink.tar.gz"] = make_tar(link, "w:gz", symlinks=[("passwd", "/etc/passwd")])
    zeros = b"\0" * (10 << 20)
    out["bomb.zip"] = make_zip([("README.md", "ok\n"), ("zeros.bin", zeros)])
    out["bomb.tar.gz"] = make_tar([("README.md", "ok\n"), ("zeros.bin", zeros)], "w:gz")
    many = [("f/%05d.txt" % i, "%d\n" % i) for i in range(2000)]
    out["many.zip"] = make_zip(many)
    out["many.tar.gz"] = make_tar(many, "w:gz")
    for name, data in out.items():
        with open(os.path.join(files_dir, name), "wb") as f:
            f.write(data)


# ---------------------------------------------------------------- state

class State:
    def __init__(self, files_dir):
        self.files_dir = files_dir
        self.lock = threading.Lock()
        self.requests = []
        self.flaky = {}

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def flaky_hit(self, key):
        with self.lock:
            self.flaky[key] = self.flaky.get(key, 0) + 1
            return self.flaky[key]


def front_matter(text):
    """The 'key: value' lines between a leading '---' line and the next."""
    lines = text.split("\n")
    meta = {}
    if not lines or lines[0].strip() != "---":
        return meta
    for line in lines[1:]:
        if line.strip() == "---":
            return meta
        if ":" in line:
            k, v = line.split(":", 1)
            v = v.strip()
            meta[k.strip()] = int(v) if v.isdigit() else v
    return {}  # no closing line: not front matter


def file_path(files_dir, name):
    name = urllib.parse.unquote(name)
    if not name or "/" in name or name.startswith("."):
        return None
    return os.path.join(files_dir, name)


CONTENT_TYPES = {
    ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8",
    ".zip": "application/zip", ".tar": "application/x-tar", ".gz": "application/gzip",
    ".tgz": "application/gzip", ".bz2": "application/x-bzip2", ".xz": "application/x-xz",
    ".json": "application/json", ".yaml": "application/yaml",
}


class Handler(BaseHTTPRequestHandler):
    server_version = "assetsrv/1"
    protocol_version = "HTTP/1.0"  # one request per connection; a body may end at close

    def log_message(self, fmt, *args):  # quiet: the tests print what matters
        pass

    # ----- helpers
    @property
    def state(self):
        return self.server.state

    def split(self):
        u = urllib.parse.urlsplit(self.path)
        return u.path, urllib.parse.parse_qs(u.query)

    def send(self, code, body=b"", ctype="text/plain; charset=utf-8", headers=None):
        body = _bytes(body)
        self.send_response(code)
        if code != 304:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and code != 304:
            self.wfile.write(body)

    def send_json(self, code, obj):
        self.send(code, json.dumps(obj), "application/json")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_MAX:
            return None
        return self.rfile.read(n) if n else b""

    def record(self, kind, mode="", namespace="", name="", raw=b""):
        path, query = self.split()
        body = None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.state.record({
            "method": self.command, "path": path,
            "query": {k: v[-1] for k, v in query.items()},
            "kind": kind, "mode": mode, "namespace": namespace, "name": name,
            "content_type": self.headers.get("Content-Type", ""),
            "body": body, "raw": raw[:RAW_KEEP].decode("utf-8", "replace"),
            "length": len(raw),
        })

    # ----- sources
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path, q = self.split()
        if path == "/_requests":
            kind = q.get("kind", [None])[-1]
            with self.state.lock:
                reqs = [r for r in self.state.requests if kind is None or r["kind"] == kind]
            return self.send_json(200, reqs)
        self.record("source")
        if path == "/healthz":
            return self.send(200, "ok\n")
        if path.startswith("/files/"):
            fp = file_path(self.state.files_dir, path[len("/files/"):])
            if not fp or not os.path.isfile(fp):
                return self.send(404, "no such file\n")
            with open(fp, "rb") as f:
                data = f.read()
            ext = os.path.splitext(fp)[1]
            return self.send(200, data, CONTENT_TYPES.get(ext, "application/octet-stream"))
        if path.startswith("/redirect/"):
            rest = path[len("/redirect/"):]
            n, _, tail = rest.partition("/")
            if not n.isdigit():
                return self.send(400, "bad hop count\n")
            n = int(n)
            loc = "/files/%s" % tail if n <= 1 else "/redirect/%d/%s" % (n - 1, tail)
            return self.send(302, "redirect\n", headers={"Location": loc})
        if path == "/redirect-to":
            return self.send(302, "redirect\n", headers={"Location": q.get("url", ["/"])[-1]})
        if path.startswith("/status/"):
            code = path[len("/status/"):]
            if not code.isdigit() or not 200 <= int(code) <= 599:
                return self.send(400, "bad status\n")
            return self.send(int(code), "status %s from assetsrv\n" % code)
        if path == "/slow":
            return self.dribble(int(q.get("bytes", ["1000"])[-1]),
                                float(q.get("delay", ["0.5"])[-1]))
        if path == "/big":
            return self.big(int(q.get("declare", [str(10 << 30)])[-1]),
                            int(q.get("send", [str(1 << 20)])[-1]))
        if path == "/stream":
            n = int(q.get("bytes", [str(1 << 20)])[-1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if self.command != "HEAD":
                self.write_zeros(n)
            return None
        return self.send(404, "not found\n")

    def write_zeros(self, n):
        chunk = b"\0" * 65536
        try:
            while n > 0:
                k = min(n, len(chunk))
                self.wfile.write(chunk[:k])
                n -= k
        except (BrokenPipeError, ConnectionResetError):
            pass

    def dribble(self, n, delay):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for _ in range(n):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def big(self, declare, send, ctype="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(declare))
        self.end_headers()
        if self.command != "HEAD":
            self.write_zeros(min(send, declare))
        self.close_connection = True

    def do_PUT(self):
        path, _ = self.split()
        self.record("admin")
        if not path.startswith("/files/"):
            return self.send(405, "PUT only on /files/<name>\n")
        fp = file_path(self.state.files_dir, path[len("/files/"):])
        if not fp:
            return self.send(400, "bad name\n")
        data = self.read_body()
        if data is None:
            return self.send(413, "too large\n")
        existed = os.path.exists(fp)
        tmp = fp + ".tmp-%d" % threading.get_ident()
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, fp)
        return self.send(204 if existed else 201)

    def do_DELETE(self):
        path, _ = self.split()
        if path == "/_requests":
            with self.state.lock:
                self.state.requests.clear()
                self.state.flaky.clear()
            return self.send(204)
        self.record("admin")
        if not path.startswith("/files/"):
            return self.send(405, "DELETE only on /files/<name> and /_requests\n")
        fp = file_path(self.state.files_dir, path[len("/files/"):])
        if not fp or not os.path.isfile(fp):
            return self.send(404, "no such file\n")
        os.remove(fp)
        return self.send(204)

    # ----- webhooks
    def route_hook(self, path):
        """(kind, mode, namespace, name) of a webhook path, or None."""
        segs = [s for s in path.split("/") if s]
        for start, ns, nm in ((0, "", ""), (2, None, None)):
            if len(segs) > start and segs[start] in KINDS:
                if ns is None:
                    ns, nm = segs[0], segs[1]
                mode = segs[start + 1] if len(segs) > start + 1 else ""
                return segs[start], mode, ns, nm
        return None

    def do_POST(self):
        path, q = self.split()
        route = self.route_hook(path)
        raw = self.read_body()
        if raw is None:
            self.record("oversized")
            return self.send(413, "too large\n")
        if not route:
            self.record("unknown", raw=raw)
            return self.send(404, "no such webhook\n")
        kind, mode, ns, nm = route
        try:
            req = json.loads(raw) if raw else None
        except ValueError:
            req = None
        params = req.get("parameters") if isinstance(req, dict) and kind != "metadata" else None
        if not mode:
            mode = q.get("mode", [""])[-1]
        if not mode and isinstance(params, dict) and isinstance(params.get("mode"), str):
            mode = params["mode"]
        self.record(kind, mode, ns, nm, raw)
        if not isinstance(req, dict):
            return self.send_json(400, {"message": "the request is not a JSON object"})
        if mode == "slow":
            time.sleep(float(q.get("delay", ["5"])[-1]))
            mode = ""
        elif mode == "flaky":
            key = q.get("key", [path])[-1]
            if self.state.flaky_hit(key) <= int(q.get("times", ["1"])[-1]):
                return self.send_json(500, {"message": "flaky: failing this time"})
            mode = ""
        if mode == "big":
            return self.send(200, b"a" * int(q.get("size", [str(1 << 20)])[-1]))
        if mode == "bigdecl":
            return self.big(10 << 30, 1 << 16, "application/json")
        if mode == "error":
            return self.send_json(500, {"message": "internal error of the %s service" % kind})
        if mode == "fail":
            return self.send_json(422, {"message": q.get("message", [
                "%s refused by assetsrv" % ("content" if kind == "validate" else "mutation")])[-1]})
        if mode == "fail-text":
            return self.send(422, "refused in plain text\n")
        return getattr(self, "hook_" + kind)(req, mode, q)

    def hook_validate(self, req, mode, q):
        content = req.get("content")
        if not isinstance(content, str):
            return self.send_json(400, {"message": "content must be a string"})
        if mode in ("", "auto") and "INVALID" in content:
            return self.send_json(422, {"message": "content holds INVALID"})
        return self.send_json(200, {"status": "ok"})

    def hook_mutate(self, req, mode, q):
        content = req.get("content")
        if not isinstance(content, str):
            return self.send_json(400, {"message": "content must be a string"})
        if mode == "same":
            return self.send(304)
        if mode == "replace":
            return self.send(200, q.get("content", [""])[-1], "text/plain; charset=utf-8")
        marker = q.get("marker", [MUTATION_MARKER])[-1]
        sep = "" if content.endswith("\n") or not content else "\n"
        return self.send(200, content + sep + marker + "\n", "text/plain; charset=utf-8")

    def hook_metadata(self, req, mode, q):
        if mode == "malformed":
            return self.send(200, "{not json", "application/json")
        metas = {}
        for name, text in req.items():
            if isinstance(text, str):
                m = front_matter(text)
                m["length"] = len(text)
                metas[name] = m
        if mode == "map":
            return self.send_json(200, metas)
        data = [{"filePath": n, "metadata": m} for n, m in metas.items()]
        if mode == "extra":
            data.append({"filePath": "not-sent.md", "metadata": {"title": "ghost"}})
        return self.send_json(200, {"data": data})


# ---------------------------------------------------------------- main

def parent_alive(pid, started_by_it):
    """Whether pid still runs; a parent that died leaves us reparented."""
    if started_by_it and os.getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main():
    ap = argparse.ArgumentParser(description="local source files and webhook services")
    ap.add_argument("--root", help="directory of the fixtures (generated when empty or absent)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--parent-pid", type=int, default=os.getppid(),
                    help="stop when this process is gone (default: the parent)")
    ap.add_argument("--max-lifetime", type=float, default=3600.0, help="seconds, then stop")
    args = ap.parse_args()

    made_root = None
    root = args.root
    if not root:
        root = made_root = tempfile.mkdtemp(prefix="assetsrv-")
    files_dir = os.path.join(root, "files")
    if not os.path.isdir(files_dir) or not os.listdir(files_dir):
        generate_fixtures(files_dir)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.state = State(files_dir)
    port = srv.server_address[1]

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    started_by_parent = args.parent_pid == os.getppid()

    def watchdog():
        deadline = time.monotonic() + args.max_lifetime
        while time.monotonic() < deadline:
            if args.parent_pid > 1 and not parent_alive(args.parent_pid, started_by_parent):
                break
            time.sleep(0.5)
        stop()

    threading.Thread(target=watchdog, daemon=True).start()

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if made_root:
            shutil.rmtree(made_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
