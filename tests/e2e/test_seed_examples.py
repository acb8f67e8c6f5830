'''
test_seed_examples.py - the curl examples of the Assets Registry
specification (seeds/assets-registry.txt), run verbatim against an assetd
started with its default listeners (127.0.0.1:8080 and 127.0.0.1:8081,
the ports the examples use) and a temporary --data directory.

Each command below is copied character for character from the seed. The
only change made when running it: ` -w '\\n%{http_code}'` is appended, so
curl prints the HTTP status on a last line after the body (an option after
the URL changes nothing else about the request).

The steps run in order and share the server: create, create again
(duplicate), update, the queries, search, delete, delete again, update of
the deleted asset.
'''

import json
import os
import socket
import subprocess

import pytest

from conftest import start_instance

# ---- the seed's commands, verbatim -----------------------------------------------------

CREATE = r"""curl -X POST http://localhost:8080/assets \
-H "Content-Type: application/json" \
-d '{
"asset_id": "asset-001",
"asset_uri": "models://example.com/asset-001",
"asset_version": "v1",
"asset_profile_id": "profile-001",
"asset_file_ids": [],
"profiles": [{
"asset_profile_id": "profile-001",
"asset_type": "model",
"asset_sub_type": "llm",
"asset_id": "asset-001"
}],
"policies": [],
"files": [],
"apis": [],
"index_mappings": []
}'"""

UPDATE = r"""curl -X PUT http://localhost:8080/assets/asset-001 \
-H "Content-Type: application/json" \
-d '{
"asset_brief_description": "Updated description"
}'"""

DELETE = r"""curl -X DELETE http://localhost:8080/assets/asset-001"""

BY_ID = r"""curl http://localhost:8081/query/by-id/asset-001"""
BY_TYPE = r"""curl http://localhost:8081/query/by-type/model"""
BY_SUB_TYPE = r"""curl http://localhost:8081/query/by-sub-type/llm"""
BY_TAG = r"""curl http://localhost:8081/query/by-tag/generative"""
BY_API_ROUTE = r"""curl http://localhost:8081/query/by-api-route/api/v1/generate"""

SEARCH = r"""curl -X POST http://localhost:8081/query/search \
-H "Content-Type: application/json" \
-d '{"asset_version": "v1", "profiles.asset_type": "model"}'"""

STATUS_SUFFIX = r""" -w '\n%{http_code}'"""
SEED_PORTS = (8080, 8081)


def _port_free(port):
    """True if nothing listens on localhost:port (either address family)
    and assetd will be able to bind 127.0.0.1:port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        s.close()
    # curl tries ::1 first for "localhost": nothing may answer there either
    try:
        c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return True
    try:
        c.settimeout(1)
        c.connect(("::1", port))
        return False
    except OSError:
        return True
    finally:
        c.close()


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory):
    busy = [p for p in SEED_PORTS if not _port_free(p)]
    if busy:
        pytest.skip(f"the seed's examples need localhost ports 8080 and 8081; "
                    f"in use here: {busy}")
    inst = start_instance(tmp_path_factory.mktemp("assetd-seed"), "seed-examples instance (default listeners)",
                          listen=False, wait=False)
    inst.ports = list(SEED_PORTS)
    inst.wait_ready()
    yield inst
    problems = inst.check_clean_exit()
    assert not problems, "\n".join(problems)


def curl(cmd):
    """Runs a seed command (plus the status suffix); returns (status, JSON body)."""
    env = dict(os.environ, NO_PROXY="*", no_proxy="*")
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    p = subprocess.run(["bash", "-c", cmd + STATUS_SUFFIX], capture_output=True, text=True,
                       timeout=30, env=env)
    assert p.returncode == 0, f"curl failed ({p.returncode}): {p.stderr}"
    body, _, status = p.stdout.rpartition("\n")
    assert status.isdigit(), f"no status on curl's last line: {p.stdout!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        raise AssertionError(f"body of `{cmd.splitlines()[0]}` is not JSON: {body[:300]!r}")
    return int(status), doc


def _ids(doc):
    assert doc.get("success") is True, doc
    assert isinstance(doc["data"], list), doc
    return [a["asset_id"] for a in doc["data"]]


def test_01_create(seed_server):
    status, doc = curl(CREATE)
    assert status == 201, doc
    assert doc["success"] is True
    assert doc["data"]["asset_id"] == "asset-001"
    assert doc["data"]["profiles"][0]["asset_type"] == "model"


def test_02_create_again_is_400(seed_server):
    status, doc = curl(CREATE)
    assert status == 400, doc
    assert doc["success"] is False and doc["code"] == "already_exists", doc
    assert isinstance(doc["error"], str) and doc["error"]


def test_03_update(seed_server):
    status, doc = curl(UPDATE)
    assert status == 200, doc
    assert doc["data"]["asset_brief_description"] == "Updated description"
    assert doc["data"]["asset_version"] == "v1"


def test_04_by_id(seed_server):
    status, doc = curl(BY_ID)
    assert status == 200, doc
    assert doc["success"] is True
    assert doc["data"]["asset_id"] == "asset-001"
    assert doc["data"]["asset_brief_description"] == "Updated description"


def test_05_by_type(seed_server):
    status, doc = curl(BY_TYPE)
    assert status == 200, doc
    assert _ids(doc) == ["asset-001"]


def test_06_by_sub_type(seed_server):
    status, doc = curl(BY_SUB_TYPE)
    assert status == 200, doc
    assert _ids(doc) == ["asset-001"]


def test_07_by_tag(seed_server):
    status, doc = curl(BY_TAG)
    assert status == 200, doc
    assert _ids(doc) == []  # asset-001 has no tags


def test_08_by_api_route(seed_server):
    status, doc = curl(BY_API_ROUTE)
    assert status == 200, doc
    assert _ids(doc) == []  # asset-001 has no APIs


def test_09_search(seed_server):
    status, doc = curl(SEARCH)
    assert status == 200, doc
    assert _ids(doc) == ["asset-001"]


def test_10_delete(seed_server):
    status, doc = curl(DELETE)
    assert status == 200, doc
    assert doc["success"] is True
    assert doc["data"] == {"asset_id": "asset-001", "deleted": True}


def test_11_by_id_after_delete_is_404(seed_server):
    status, doc = curl(BY_ID)
    assert status == 404, doc
    assert doc["success"] is False and doc["code"] == "not_found"


def test_12_delete_again_is_404(seed_server):
    status, doc = curl(DELETE)
    assert status == 404, doc
    assert doc["success"] is False and doc["code"] == "not_found"
    assert isinstance(doc["error"], str) and doc["error"]


def test_13_update_missing_is_404(seed_server):
    status, doc = curl(UPDATE)
    assert status == 404, doc
    assert doc["success"] is False and doc["code"] == "not_found"


def test_14_queries_after_delete_are_empty(seed_server):
    for cmd in (BY_TYPE, BY_SUB_TYPE, SEARCH):
        status, doc = curl(cmd)
        assert status == 200, doc
        assert _ids(doc) == [], cmd.splitlines()[0]
