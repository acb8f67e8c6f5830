"""
test_graphql_conformance.py - assetd's GraphQL endpoint against graphql-js,
the reference implementation (tests/graphql/conformance.mjs):

1. buildClientSchema accepts assetd's introspection, printSchema of it
   equals the checked-in tests/graphql/schema.graphql, and graphql-js's own
   introspection of that schema equals assetd's;
2. every document of tests/graphql/corpus/ gets the same verdict (valid or
   invalid) from graphql-js's validate() and from assetd, the quoted-keys
   extension (corpus/extension/) excepted: graphql-js rejects those, assetd
   runs them.

graphql-js is the npm package `graphql`, installed from the npm registry
with `npm ci` (tests/graphql/package-lock.json pins it) when
tests/graphql/node_modules does not already hold the pinned version.
Node.js and npm come from scripts/install-deps.sh (the "test" set).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import make_api, make_asset, make_profile

HERE = Path(__file__).resolve().parent
GRAPHQL_DIR = HERE.parent / "graphql"


def locked_version():
    lock = json.loads((GRAPHQL_DIR / "package-lock.json").read_text())
    return lock["packages"]["node_modules/graphql"]["version"]


def installed_version():
    pkg = GRAPHQL_DIR / "node_modules" / "graphql" / "package.json"
    try:
        return json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def graphql_js():
    """node, with graphql-js installed in tests/graphql (npm ci if needed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed for the graphql-js conformance check "
                    "(bash scripts/install-deps.sh test installs them)", pytrace=False)
    if installed_version() != locked_version():
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=GRAPHQL_DIR,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    assert installed_version() == locked_version()
    return node


def seed(client):
    """The assets the corpus's valid documents read."""
    a1 = make_asset("asset-001", tags=["generative"], route="/api/v1/generate",
                    asset_brief_description="first")
    a2 = make_asset("asset-002", tags=["generative"], version="v2")
    aid = "asset-003"
    a3 = make_asset(aid, profiles=[make_profile(aid, asset_type="dataset", sub_type="csv")])
    a3["apis"] = [make_api(aid, "api/v1/generate")]
    for a in (a1, a2, a3):
        client.create(a)


def test_graphql_js_conformance(assetd_factory, graphql_js):
    inst = assetd_factory()
    c = inst.client()
    seed(c)
    c.close()
    r = subprocess.run([graphql_js, str(GRAPHQL_DIR / "conformance.mjs"), "--url", inst.base],
                       cwd=GRAPHQL_DIR, capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, f"graphql-js and assetd disagree:\n{r.stdout}\n{r.stderr}"
    assert "disagree on 0" in r.stdout
