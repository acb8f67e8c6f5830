"""
test_graphql.py - the GraphQL endpoint (/graphql) end to end: the seed
document's three GraphQL examples verbatim, every Query field, variables,
fragments, aliases, directives, introspection, the three transports (POST
application/json, POST application/graphql, GET), request errors (syntax,
validation, variables, mutation, limits) and field errors with partial
data.

Status codes: 200 when the operation ran (field errors included), 400 when
the request could not be parsed, validated or given its variables (no
"data" in the body), 415 for another Content-Type.
"""

import concurrent.futures
import json

import pytest

from e2e_helpers import make_asset, uniq


# ---- helpers -------------------------------------------------------------------------

def gql(client, query, variables=None, operation=None, status=200):
    """POSTs a GraphQL request as JSON; asserts the status; returns the body."""
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation is not None:
        body["operationName"] = operation
    r = client.post("/graphql", json=body)
    assert r.status_code == status, f"want {status}, got {r.status_code}: {r.text[:800]}"
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def data_of(client, query, variables=None, operation=None):
    """Runs a query that must succeed without any error; returns data."""
    b = gql(client, query, variables, operation)
    assert "errors" not in b, f"unexpected errors: {b['errors']}"
    return b["data"]


def request_error(client, query, contains, variables=None, operation=None, code=None):
    """A request that must be refused (400, errors, no data); returns the errors."""
    b = gql(client, query, variables, operation, status=400)
    assert "data" not in b, f"a request error must not have data: {b}"
    assert b["errors"], b
    messages = " | ".join(e["message"] for e in b["errors"])
    assert contains in messages, f"{contains!r} not in {messages!r}"
    if code is not None:
        assert b["errors"][0]["extensions"]["code"] == code, b["errors"][0]
    return b["errors"]


def ids(items):
    return [a["assetId"] for a in items]


# ---- the seed's examples, verbatim ------------------------------------------------------

SEED_ASSET = {
    "asset_id": "asset-001",
    "asset_uri": "models://example.com/asset-001",
    "asset_version": "v1",
    "asset_profile_id": "profile-001",
    "asset_file_ids": [],
    "profiles": [{
        "asset_profile_id": "profile-001",
        "asset_type": "model",
        "asset_sub_type": "llm",
        "asset_id": "asset-001",
    }],
    "policies": [],
    "files": [],
    "apis": [],
    "index_mappings": [],
}

SEED_GET_BY_ID = """query {
getAssetById(assetId: "asset-001") {
assetId
assetUri
assetVersion
assetBriefDescription
}
}"""

SEED_FILTER_BY_TYPE = """query {
getAssetsByType(assetType: "model") {
assetId
assetUri
profiles
}
}"""

SEED_CUSTOM_FILTER = """query {
searchAssets(filters: { "profiles.asset_sub_type": "llm" }) {
assetId
assetUri
assetVersion
}
}"""


def test_seed_examples_verbatim(assetd_factory):
    inst = assetd_factory()
    c = inst.client()
    c.create(SEED_ASSET)
    # the seed's update, so assetBriefDescription has a value
    r = c.put("/assets/asset-001", json={"asset_brief_description": "Updated description"})
    assert r.status_code == 200, r.text
    profile = {
        "asset_profile_id": "profile-001", "asset_type": "model", "asset_sub_type": "llm",
        "asset_id": "asset-001", "asset_metadata": None, "asset_creator_info": None,
        "asset_tags": [], "asset_description": None, "asset_complete_docs_url": None,
        "asset_man_page_url": None, "asset_sample_input_json": None,
        "asset_sample_output_json": None, "asset_sample_input_data_url": None,
        "asset_sample_output_data_url": None, "asset_author_metadata": None,
    }
    for base in inst.bases:  # the seed uses port 8081; every listener serves /graphql
        c = type(c)(base)
        assert data_of(c, SEED_GET_BY_ID) == {"getAssetById": {
            "assetId": "asset-001", "assetUri": "models://example.com/asset-001",
            "assetVersion": "v1", "assetBriefDescription": "Updated description"}}
        assert data_of(c, SEED_FILTER_BY_TYPE) == {"getAssetsByType": [{
            "assetId": "asset-001", "assetUri": "models://example.com/asset-001",
            "profiles": [profile]}]}
        assert data_of(c, SEED_CUSTOM_FILTER) == {"searchAssets": [{
            "assetId": "asset-001", "assetUri": "models://example.com/asset-001",
            "assetVersion": "v1"}]}
        c.close()


# ---- every Query field ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalog(server):
    """Three assets sharing a unique type, sub-type, tag and route; one outside them."""
    c = server.client()
    t, s, tag, route = uniq("type"), uniq("sub"), uniq("tag"), "/api/" + uniq("route")
    assets = []
    for i, version in enumerate(["v1", "v2", "v3"]):
        aid = uniq(f"gql{i}")
        a = make_asset(aid, asset_type=t, sub_type=s, tags=[tag, "common"], route=route,
                       version=version, asset_brief_description=f"brief {i}",
                       asset_policy_ids=["pol-1"])
        c.create(a)
        assets.append(a)
    other = make_asset(asset_type=uniq("type"))
    c.create(other)
    c.close()
    return {"type": t, "sub": s, "tag": tag, "route": route, "assets": assets, "other": other}


def test_every_query_field(api, catalog):
    a0 = catalog["assets"][0]
    want = [a["asset_id"] for a in catalog["assets"]]
    data = data_of(api, """query ($id: String!, $t: String!, $s: String!, $tag: String!,
                                 $route: String!, $f: GenericScalar) {
        getAssetById(assetId: $id) { assetId }
        getAssetsByType(assetType: $t) { assetId }
        getAssetsBySubType(subType: $s) { assetId }
        getAssetsByTag(tag: $tag) { assetId }
        getAssetsByApiRoute(route: $route) { assetId }
        searchAssets(filters: $f) { assetId }
    }""", {"id": a0["asset_id"], "t": catalog["type"], "s": catalog["sub"],
           "tag": catalog["tag"], "route": catalog["route"].lstrip("/"),
           "f": {"profiles.asset_type": catalog["type"], "asset_version": {"$ne": "v2"}}})
    assert data["getAssetById"] == {"assetId": a0["asset_id"]}
    for field in ("getAssetsByType", "getAssetsBySubType", "getAssetsByTag",
                  "getAssetsByApiRoute"):
        assert ids(data[field]) == want, field
    assert ids(data["searchAssets"]) == [want[0], want[2]]


def test_every_asset_field_in_camel_case(api, catalog):
    a = catalog["assets"][1]
    got = data_of(api, """query ($id: String!) { getAssetById(assetId: $id) {
        assetId assetUri assetVersion assetProfileId assetFileIds assetContainerUri
        assetPolicyIds assetContainerRegistryCredsConfig assetWorkflowId assetApiIds
        assetBriefDescription profiles policies files apis indexMappings } }""",
                  {"id": a["asset_id"]})["getAssetById"]
    stored = api.get_asset(a["asset_id"]).json()["data"]
    camel = {"".join(w if i == 0 else w.capitalize() for i, w in enumerate(k.split("_"))): v
             for k, v in stored.items()}
    assert got == camel  # every field, same values, keys of embedded objects as stored
    assert got["profiles"][0]["asset_tags"] == [catalog["tag"], "common"]


def test_limit_and_skip(api, catalog):
    want = [a["asset_id"] for a in catalog["assets"]]
    data = data_of(api, """query ($t: String!) {
        two: getAssetsByType(assetType: $t, limit: 2) { assetId }
        rest: getAssetsByType(assetType: $t, skip: 2) { assetId }
        middle: getAssetsByType(assetType: $t, limit: 1, skip: 1) { assetId }
        none: getAssetsByType(assetType: $t, limit: 0) { assetId } }""", {"t": catalog["type"]})
    assert ids(data["two"]) == want[:2]
    assert ids(data["rest"]) == want[2:]
    assert ids(data["middle"]) == want[1:2]
    assert data["none"] == []


def test_unknown_id_is_null(api):
    assert data_of(api, '{ getAssetById(assetId: "no-such-asset") { assetId } }') == {
        "getAssetById": None}


# ---- variables, fragments, aliases, directives ---------------------------------------------------

def test_variables_with_defaults_and_coercion(api, catalog):
    q = """query Page($t: String!, $limit: Int = 1, $skip: Int) {
        getAssetsByType(assetType: $t, limit: $limit, skip: $skip) { assetId } }"""
    want = [a["asset_id"] for a in catalog["assets"]]
    assert ids(data_of(api, q, {"t": catalog["type"]})["getAssetsByType"]) == want[:1]
    assert ids(data_of(api, q, {"t": catalog["type"], "limit": 5, "skip": 1})
               ["getAssetsByType"]) == want[1:]
    assert ids(data_of(api, q, {"t": catalog["type"], "limit": None})
               ["getAssetsByType"]) == want  # explicit null: no limit


def test_filters_as_variable_literal_and_quoted_keys(api, catalog):
    t = catalog["type"]
    v2 = catalog["assets"][1]["asset_id"]
    by_var = data_of(api, "query ($f: GenericScalar) { searchAssets(filters: $f) { assetId } }",
                     {"f": {"profiles.asset_type": t, "asset_version": "v2"}})
    quoted = data_of(api, '{ searchAssets(filters: {"profiles.asset_type": %s, '
                          '"asset_version": {"$in": ["v2"]}}) { assetId } }' % json.dumps(t))
    plain = data_of(api, "query ($id: String) { searchAssets(filters: {asset_id: $id, "
                         "asset_version: v2}) { assetId } }", {"id": v2})
    for d in (by_var, quoted, plain):
        assert ids(d["searchAssets"]) == [v2]


def test_fragments_inline_fragments_and_directives(api, catalog):
    a = catalog["assets"][0]
    data = data_of(api, """query ($id: String!, $withUri: Boolean!, $noVersion: Boolean = true) {
        getAssetById(assetId: $id) {
            ...Ids
            ... on Asset { assetUri @include(if: $withUri) }
            ... @skip(if: $noVersion) { assetVersion }
            __typename
        }
    }
    fragment Ids on Asset { assetId ...More }
    fragment More on Asset { assetProfileId }""", {"id": a["asset_id"], "withUri": True})
    assert data["getAssetById"] == {"assetId": a["asset_id"],
                                    "assetProfileId": a["asset_profile_id"],
                                    "assetUri": a["asset_uri"], "__typename": "Asset"}
    assert list(data["getAssetById"]) == ["assetId", "assetProfileId", "assetUri", "__typename"]


def test_aliases(api, catalog):
    a, b = catalog["assets"][0], catalog["assets"][2]
    data = data_of(api, """query ($a: String!, $b: String!) {
        first: getAssetById(assetId: $a) { id: assetId v: assetVersion }
        second: getAssetById(assetId: $b) { id: assetId v: assetVersion }
        kind: __typename }""", {"a": a["asset_id"], "b": b["asset_id"]})
    assert data == {"first": {"id": a["asset_id"], "v": "v1"},
                    "second": {"id": b["asset_id"], "v": "v3"}, "kind": "Query"}


def test_operation_name_selects_the_operation(api, catalog):
    doc = """query One { getAssetById(assetId: "x") { assetId } }
             query Two($t: String!) { getAssetsByType(assetType: $t) { assetId } }"""
    data = data_of(api, doc, {"t": catalog["type"]}, "Two")
    assert list(data) == ["getAssetsByType"] and len(data["getAssetsByType"]) == 3
    request_error(api, doc, "Must provide operation name", code="OPERATION_RESOLUTION_FAILURE")
    request_error(api, doc, 'Unknown operation named "Three"', operation="Three")


# ---- request errors ----------------------------------------------------------------------------

def test_bad_field(api):
    errs = request_error(api, '{ getAssetById(assetId: "x") { assetId nope } }',
                         'Cannot query field "nope" on type "Asset".',
                         code="GRAPHQL_VALIDATION_FAILED")
    assert errs[0]["locations"] == [{"line": 1, "column": 40}]


def test_bad_argument_type(api):
    request_error(api, "{ getAssetById(assetId: 42) { assetId } }",
                  "String cannot represent a non string value: 42")
    request_error(api, '{ getAssetsByTag(tag: "t", limit: "ten") { assetId } }',
                  'Int cannot represent non-integer value: "ten"')
    request_error(api, '{ getAssetsByTag(tag: "t", nope: 1) { assetId } }',
                  'Unknown argument "nope" on field "Query.getAssetsByTag".')
    request_error(api, "{ getAssetById { assetId } }",
                  'argument "assetId" of type "String!" is required')


def test_missing_variable(api):
    # used but not defined: a validation error
    request_error(api, "{ getAssetById(assetId: $id) { assetId } }",
                  'Variable "$id" is not defined.', code="GRAPHQL_VALIDATION_FAILED")
    # defined but given no value: a variables error
    request_error(api, "query ($id: String!) { getAssetById(assetId: $id) { assetId } }",
                  'Variable "$id" of required type "String!" was not provided.',
                  code="BAD_USER_INPUT")
    request_error(api, "query ($id: String!) { getAssetById(assetId: $id) { assetId } }",
                  'Variable "$id" got invalid value 5', variables={"id": 5})
    request_error(api, "query ($id: String) { getAssetById(assetId: $id) { assetId } }",
                  'Variable "$id" of type "String" used in position expecting type "String!"')


def test_mutation_and_subscription_are_refused(api, catalog):
    before = api.get_asset(catalog["assets"][0]["asset_id"]).json()["data"]
    errs = request_error(api, 'mutation { getAssetById(assetId: "x") { assetId } }',
                         "mutation operations are not supported",
                         code="GRAPHQL_VALIDATION_FAILED")
    assert errs[0]["locations"] == [{"line": 1, "column": 1}]
    request_error(api, "subscription { __typename }", "subscription operations are not supported")
    request_error(api, 'mutation M { createAsset(id: "x") }', "not supported")
    assert api.get_asset(catalog["assets"][0]["asset_id"]).json()["data"] == before


def test_syntax_errors_have_line_and_column(api):
    errs = request_error(api, "{\n  getAssetById(assetId: \"x\") {\n    assetId\n", "Syntax Error",
                         code="GRAPHQL_PARSE_FAILED")
    assert errs[0]["locations"] == [{"line": 4, "column": 1}]
    errs = request_error(api, '{ getAssetById(assetId: "\\uD83D") { assetId } }',
                         "Invalid Unicode escape sequence")
    assert errs[0]["locations"] == [{"line": 1, "column": 26}]


def test_limits(api):
    request_error(api, "{ __typename }" + " " * 70000, "the limit is 65536")
    request_error(api, "{ getAssetById(assetId: \"x\") { " + "a: assetId " * 101 + "} }",
                  "more than 100 aliases")
    request_error(api, "{" + " __typename" * 1001 + " }", "more than 1000 fields")
    request_error(api, "{ searchAssets(filters: " + "[" * 40 + "]" * 40 + ") { assetId } }",
                  "nested deeper than 32 levels")
    request_error(api, "{ __schema { types { fields { type { fields { type { fields { name } } } } } "
                       "} } }",
                  "Maximum introspection depth exceeded")


# ---- field errors: partial data ------------------------------------------------------------------

def test_resolver_error_gives_partial_data(api, catalog):
    a = catalog["assets"][0]
    b = gql(api, """query ($id: String!) {
        ok: getAssetById(assetId: $id) { assetId }
        bad: searchAssets(filters: {"$where": "sleep(1000)"}) { assetId }
        neg: getAssetsByType(assetType: "model", limit: -1) { assetId } }""", {"id": a["asset_id"]})
    assert b["data"] == {"ok": {"assetId": a["asset_id"]}, "bad": None, "neg": None}
    assert [e["path"] for e in b["errors"]] == [["bad"], ["neg"]]
    assert "$where" in b["errors"][0]["message"]
    assert b["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert b["errors"][0]["locations"] == [{"line": 3, "column": 9}]


# ---- introspection ---------------------------------------------------------------------------------

def test_introspection(api):
    data = data_of(api, """{ __schema { queryType { name } mutationType { name }
        types { name kind } directives { name locations } }
        asset: __type(name: "Asset") { fields { name type { kind name ofType { kind name } } } } }""")
    assert data["__schema"]["queryType"] == {"name": "Query"}
    assert data["__schema"]["mutationType"] is None
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Query", "Asset", "GenericScalar", "String", "Int", "Boolean", "__Schema",
            "__Type"} <= names
    assert {d["name"] for d in data["__schema"]["directives"]} == {
        "include", "skip", "deprecated", "specifiedBy", "oneOf"}
    fields = {f["name"]: f["type"] for f in data["asset"]["fields"]}
    assert fields["assetId"] == {"kind": "NON_NULL", "name": None,
                                 "ofType": {"kind": "SCALAR", "name": "String"}}
    assert fields["assetBriefDescription"] == {"kind": "SCALAR", "name": "String", "ofType": None}
    assert fields["profiles"]["ofType"] == {"kind": "SCALAR", "name": "GenericScalar"}
    assert len(fields) == 16


# ---- transports -------------------------------------------------------------------------------------

def test_get_transport(api, catalog):
    a = catalog["assets"][0]
    r = api.get("/graphql", params={
        "query": "query Q($id: String!) { getAssetById(assetId: $id) { assetId } }",
        "variables": json.dumps({"id": a["asset_id"]}), "operationName": "Q"})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"getAssetById": {"assetId": a["asset_id"]}}}
    r = api.get("/graphql", params={"query": "{ nope }"})
    assert r.status_code == 400 and "data" not in r.json()
    r = api.get("/graphql")
    assert r.status_code == 400 and "query" in r.json()["errors"][0]["message"]
    r = api.get("/graphql", params={"query": "{ __typename }", "variables": "[1]"})
    assert r.status_code == 400 and "variables" in r.json()["errors"][0]["message"]
    r = api.get("/graphql", params={"query": "{ __typename }", "variables": "{bad"})
    assert r.status_code == 400 and "variables" in r.json()["errors"][0]["message"]


def test_application_graphql_transport(api, catalog):
    a = catalog["assets"][1]
    q = '{ getAssetById(assetId: "%s") { assetId assetVersion } }' % a["asset_id"]
    r = api.post("/graphql", data=q.encode(), headers={"Content-Type": "application/graphql"})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"getAssetById": {"assetId": a["asset_id"], "assetVersion": "v2"}}}
    # variables and operationName may come in the URL
    r = api.post("/graphql", params={"variables": json.dumps({"id": a["asset_id"]})},
                 data=b"query ($id: String!) { getAssetById(assetId: $id) { assetId } }",
                 headers={"Content-Type": "application/graphql; charset=utf-8"})
    assert r.status_code == 200 and r.json()["data"]["getAssetById"]["assetId"] == a["asset_id"]


def test_json_transport_errors(api):
    def post(data, ctype="application/json"):
        headers = {"Content-Type": ctype} if ctype else {}
        return api.post("/graphql", data=data, headers=headers)

    for data, msg in [(b"{bad json", "invalid JSON"), (b"[1]", "JSON object"),
                      (b'{"variables": {}}', '"query" must be a string'),
                      (b'{"query": "{ __typename }", "variables": [1]}', '"variables"'),
                      (b'{"query": "{ __typename }", "operationName": 3}', '"operationName"')]:
        r = post(data)
        assert r.status_code == 400, (data, r.text)
        b = r.json()
        assert "data" not in b and msg in b["errors"][0]["message"], (data, b)
    r = post(b'{"query": "{ __typename }", "variables": null, "operationName": null}')
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}
    for ctype in ("text/plain", None, "application/x-www-form-urlencoded"):
        r = post(b"{ __typename }", ctype)
        assert r.status_code == 415, (ctype, r.text)
        assert "Content-Type" in r.json()["errors"][0]["message"]
    r = api.put("/graphql", json={"query": "{ __typename }"})
    assert r.status_code == 405


def test_concurrent_requests(server, catalog):
    q = '{ getAssetsByTag(tag: "%s") { assetId profiles } }' % catalog["tag"]

    def one(_):
        c = server.client()
        try:
            r = c.post("/graphql", json={"query": q})
            return r.status_code, len(r.json()["data"]["getAssetsByTag"])
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(64)))
    assert results == [(200, 3)] * 64
