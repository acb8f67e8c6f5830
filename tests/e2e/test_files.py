"""
test_files.py - GET/HEAD /files/<upload_id>/<path>: the stored bytes with
Content-Length, a strong ETag, Range (206/416), If-Range, If-None-Match
(304), HEAD; percent-encoded segments; 404 for unknown keys; keys that
would leave the store refused.
"""

from e2e_helpers import err, raw_http, uniq
from zip_fixtures import file_url, put_blob

DATA = bytes(range(256)) * 1000


def test_get_head_range(server, api):
    key = uniq("up") + "/dir/na me\u00e9.bin"
    put_blob(server, key, DATA)
    url = file_url(server, key)[len(server.base):]
    r = api.get(url)
    assert r.status_code == 200 and r.content == DATA
    assert int(r.headers["Content-Length"]) == len(DATA)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Accept-Ranges"] == "bytes"
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert api.get(url).headers["ETag"] == etag

    r = api.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == DATA[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    r = api.get(url, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert r.status_code == 206 and r.content == DATA[1000:]
    r = api.get(url, headers={"Range": "bytes=1000-", "If-Range": '"other"'})
    assert r.status_code == 200 and r.content == DATA
    r = api.get(url, headers={"Range": f"bytes={len(DATA)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(DATA)}"

    r = api.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""

    r = api.request("HEAD", url)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == len(DATA)


def test_replaced_object_changes_etag(server, api):
    key = uniq("up") + "/f.bin"
    put_blob(server, key, b"one")
    e1 = api.get("/files/" + key).headers["ETag"]
    put_blob(server, key + ".new", b"two")
    (server.data_dir / "blobs" / "o" / (key + ".new")).rename(server.data_dir / "blobs" / "o" / key)
    r = api.get("/files/" + key)
    assert r.content == b"two" and r.headers["ETag"] != e1


def test_empty_file(server, api):
    key = uniq("up") + "/empty"
    put_blob(server, key, b"")
    r = api.get("/files/" + key)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == "0"


def test_unknown_and_bad_keys(server, api):
    err(api.get("/files/" + uniq("none") + "/x"), 404, "not_found")
    key = uniq("up")
    put_blob(server, key + "/sub/f", b"x")
    err(api.get("/files/" + key + "/sub"), 404, "not_found")  # a directory is no object
    for path in ["/files/a/../b", "/files/a/%2e%2e/b", "/files/%2e%2e/etc/passwd", "/files/a//b"]:
        status, _, body = raw_http(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                                f"Connection: close\r\n\r\n".encode())
        assert status in (400, 404), (path, status, body[:200])
