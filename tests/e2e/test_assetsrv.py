"""
test_assetsrv.py - the asset store's local test server itself
(tests/servers/assetsrv.py through the `assetsrv` fixture): the fixtures are
what the other tests rely on them to be (every archive flavour opens and
holds the docs tree; each hostile archive holds its hostile entry), and each
source route and webhook mode answers as its docstring says, recording what
it received. No assetd here: a wrong test server would make the asset-store
tests lie, so it gets tests of its own.
"""

import io
import tarfile
import zipfile

import pytest

DOCS = {"README.md", "docs/a.md", "docs/b.md", "docs/nested/c.md", "img/logo.png",
        "api/openapi.yaml"}


def get(srv, path, **kw):
    return srv.http.get(srv.url(path), timeout=30, allow_redirects=False, **kw)


def post(srv, url, body, **kw):
    return srv.http.post(url, json=body, timeout=30, **kw)


@pytest.mark.parametrize("name", ["docs.tar", "docs.tar.gz", "docs.tgz", "docs.tar.bz2",
                                  "docs.tar.xz"])
def test_tar_flavours_hold_the_docs_tree(assetsrv, name):
    r = get(assetsrv, "/files/" + name)
    assert r.status_code == 200
    assert r.content == assetsrv.fixture_bytes(name)
    with tarfile.open(fileobj=io.BytesIO(r.content)) as t:
        assert {m.name for m in t.getmembers() if m.isfile()} == DOCS


def test_zip_holds_the_docs_tree_and_single_files(assetsrv):
    r = get(assetsrv, "/files/docs.zip")
    assert r.headers["Content-Type"] == "application/zip"
    assert set(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == DOCS
    assert get(assetsrv, "/files/hello.txt").text == "Hello from assetsrv.\n"
    assert get(assetsrv, "/files/binary.bin").content[:3] == b"\x00\x01\x02"
    assert get(assetsrv, "/files/nope").status_code == 404


def test_hostile_archives_hold_their_hostile_entries(assetsrv):
    def names(n):
        data = assetsrv.fixture_bytes(n)
        if n.endswith(".zip"):
            return zipfile.ZipFile(io.BytesIO(data)).namelist()
        return [m.name for m in tarfile.open(fileobj=io.BytesIO(data)).getmembers()]

    assert "../evil.txt" in names("evil-dotdot.zip")
    assert "../evil.txt" in names("evil-dotdot.tar.gz")
    assert "/tmp/assetsrv-evil.txt" in names("evil-abs.tar.gz")
    assert any(n.endswith("tmp/assetsrv-evil.txt") for n in names("evil-abs.zip"))
    with tarfile.open(fileobj=io.BytesIO(assetsrv.fixture_bytes("evil-symlink.tar.gz"))) as t:
        assert t.getmember("passwd").issym()
    z = zipfile.ZipFile(io.BytesIO(assetsrv.fixture_bytes("evil-symlink.zip")))
    assert (z.getinfo("passwd").external_attr >> 16) & 0o170000 == 0o120000
    bomb = zipfile.ZipFile(io.BytesIO(assetsrv.fixture_bytes("bomb.zip")))
    info = bomb.getinfo("zeros.bin")
    assert info.file_size / info.compress_size > 200  # over the default --zip-max-ratio
    assert len(names("many.zip")) == 2000
    assert len(names("many.tar.gz")) == 2000


def test_source_routes(assetsrv):
    r = get(assetsrv, "/redirect/3/hello.txt")
    assert r.status_code == 302 and r.headers["Location"] == "/redirect/2/hello.txt"
    r = assetsrv.http.get(assetsrv.url("/redirect/3/hello.txt"), timeout=30)
    assert r.text == "Hello from assetsrv.\n" and len(r.history) == 3
    assert get(assetsrv, "/status/503").status_code == 503
    r = get(assetsrv, "/redirect-to", params={"url": "ftp://127.0.0.1/x"})
    assert r.headers["Location"] == "ftp://127.0.0.1/x"
    r = assetsrv.http.head(assetsrv.url("/big?declare=12345"), timeout=30)
    assert r.headers["Content-Length"] == "12345"
    assert len(get(assetsrv, "/stream?bytes=1000").content) == 1000
    assert get(assetsrv, "/slow?bytes=2&delay=0.01").content == b"xx"


def test_put_changes_a_source(assetsrv):
    assert assetsrv.put_file("changing.md", b"one\n") == 201
    assert get(assetsrv, "/files/changing.md").content == b"one\n"
    assert assetsrv.put_file("changing.md", b"two\n") == 204
    assert get(assetsrv, "/files/changing.md").content == b"two\n"
    assert assetsrv.delete_file("changing.md") == 204
    assert get(assetsrv, "/files/changing.md").status_code == 404


def test_validation_modes_and_record(assetsrv):
    assetsrv.clear()
    body = {"parameters": {"k": [1, 2]}, "content": "# ok\n"}
    assert post(assetsrv, assetsrv.hook_url("validate"), body).status_code == 200
    r = post(assetsrv, assetsrv.hook_url("validate"), {"parameters": {}, "content": "INVALID"})
    assert r.status_code == 422 and r.json() == {"message": "content holds INVALID"}
    r = post(assetsrv, assetsrv.hook_url("validate", "fail", message="no title"), body)
    assert r.status_code == 422 and r.json()["message"] == "no title"
    assert post(assetsrv, assetsrv.hook_url("validate", "error"), body).status_code == 500
    body_mode = {"parameters": {"mode": "fail"}, "content": "x"}
    assert post(assetsrv, assetsrv.hook_url("validate"), body_mode).status_code == 422
    r = post(assetsrv, assetsrv.hook_url("validate", "big", size=3000), body)
    assert len(r.content) == 3000
    reqs = assetsrv.requests("validate")
    assert [q["mode"] for q in reqs] == ["", "", "fail", "error", "fail", "big"]
    assert reqs[0]["body"] == body and reqs[0]["path"] == "/validate"
    assert reqs[2]["query"] == {"message": "no title"}
    assetsrv.clear()
    assert assetsrv.requests() == []


def test_mutation_and_metadata_modes(assetsrv):
    body = {"parameters": {}, "content": "# T\n"}
    r = post(assetsrv, assetsrv.hook_url("mutate"), body)
    assert r.status_code == 200 and r.text == "# T\n<!-- mutated by assetsrv -->\n"
    assert post(assetsrv, assetsrv.hook_url("mutate", "same"), body).status_code == 304
    assert post(assetsrv, assetsrv.hook_url("mutate", "fail"), body).status_code == 422
    files = {"a.md": "---\ntitle: A\norder: 3\n---\nx", "b.md": "plain"}
    r = post(assetsrv, assetsrv.hook_url("metadata"), files)
    assert r.json() == {"data": [
        {"filePath": "a.md", "metadata": {"title": "A", "order": 3, "length": 27}},
        {"filePath": "b.md", "metadata": {"length": 5}}]}
    r = post(assetsrv, assetsrv.hook_url("metadata", "map"), files)
    assert r.json()["a.md"]["title"] == "A"
    assert post(assetsrv, assetsrv.hook_url("metadata", "malformed"), files).text == "{not json"


def test_service_style_paths(assetsrv):
    assetsrv.clear()
    url = assetsrv.service_template.format(namespace="kyma-system", name="mutator",
                                           endpoint="/mutate")
    r = post(assetsrv, url, {"parameters": {}, "content": "a"})
    assert r.status_code == 200
    (req,) = assetsrv.requests("mutate")
    assert (req["namespace"], req["name"], req["path"]) == (
        "kyma-system", "mutator", "/kyma-system/mutator/mutate")


def test_flaky_fails_then_passes(assetsrv):
    url = assetsrv.hook_url("validate", "flaky", times=2, key="flaky-test")
    body = {"parameters": {}, "content": "a"}
    assert [post(assetsrv, url, body).status_code for _ in range(3)] == [500, 500, 200]
