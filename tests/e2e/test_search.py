"""
test_search.py - POST /query/search: the MongoDB-style filter language.

A module fixture creates four assets A, B, C, D that share a unique
asset_version (the marker); every filter is run as
{"$and": [{"asset_version": marker}, <filter>]} so the shared server's other
assets cannot interfere, and the set of matching ids is compared with what
MongoDB would answer.
"""

import json

import pytest

from e2e_helpers import err, make_asset, make_profile, ok, uniq


@pytest.fixture(scope="module")
def ds(server):
    c = server.client(0)
    m = uniq("search")
    ids = {k: f"{m}-{k}" for k in "ABCD"}

    def prof(k, t, s, tags, **kw):
        return make_profile(ids[k], t, s, tags, **kw)

    docs = {
        "A": make_asset(
            ids["A"], version=m, asset_uri="uri://a",
            asset_file_ids=["f1", "f2"],
            asset_workflow_id="wf-1",
            asset_container_uri="docker://a",
            asset_brief_description="Alpha model",
            profiles=[prof("A", "model", "llm", ["gen", "text"],
                           asset_metadata={"params": 7, "name": "alpha", "layers": [1, 2, 3]}),
                      prof("A", "data", "image", [])],
            index_mappings=[{"json_doc_id": "d", "mapping_field_index": 0, "table_name": "t",
                             "field_name": "f", "render_page_no": 2, "render_order_no": 1}]),
        "B": make_asset(
            ids["B"], version=m, asset_uri="uri://b",
            asset_file_ids=["f1"],
            asset_brief_description="beta dataset",
            profiles=[prof("B", "data", "image", ["vision"], asset_metadata={"params": 7.5})]),
        "C": make_asset(
            ids["C"], version=m, asset_uri="uri://c",
            asset_file_ids=[],
            asset_container_registry_creds_config={"user": "x"},
            profiles=[prof("C", "tool", "cli", [], asset_metadata={"params": 3}),
                      prof("C", "model", "transformer", ["gen"])]),
        "D": make_asset(
            ids["D"], version=m, asset_uri="uri://d",
            asset_file_ids=["f1", "f2", "f3"],
            asset_brief_description="DELTA",
            profiles=[]),
    }
    for k in "ABCD":
        c.create(docs[k])
    c.close()
    return {"marker": m, "ids": ids}


def run(api, ds, flt, params=None):
    """The letters of the dataset's assets matching flt."""
    full = {"$and": [{"asset_version": ds["marker"]}, flt]}
    got = api.search_ids(full, params)
    inv = {v: k for k, v in ds["ids"].items()}
    unexpected = [g for g in got if g not in inv]
    assert not unexpected, f"assets outside the dataset matched: {unexpected}"
    assert len(got) == len(set(got)), f"duplicates in result: {got}"
    return "".join(sorted(inv[g] for g in got))


CASES = [
    # implicit equality
    ({}, "ABCD"),
    ({"asset_workflow_id": "wf-1"}, "A"),
    ({"asset_uri": "uri://b", "asset_brief_description": "beta dataset"}, "B"),
    ({"asset_uri": "uri://b", "asset_brief_description": "Alpha model"}, ""),
    # dotted paths through embedded lists
    ({"profiles.asset_type": "model"}, "AC"),
    ({"profiles.asset_type": "data"}, "AB"),
    ({"profiles.asset_tags": "gen"}, "AC"),
    ({"profiles.asset_metadata.name": "alpha"}, "A"),
    ({"profiles.asset_metadata.layers": 2}, "A"),
    ({"index_mappings.render_page_no": 2}, "A"),
    ({"asset_container_registry_creds_config.user": "x"}, "C"),
    # numeric path parts
    ({"profiles.1.asset_type": "model"}, "C"),
    ({"profiles.0.asset_type": "model"}, "A"),
    ({"profiles.1.asset_sub_type": "image"}, "A"),
    ({"asset_file_ids.2": "f3"}, "D"),
    ({"asset_file_ids.0": "f1"}, "ABD"),
    # element vs whole-array equality
    ({"asset_file_ids": "f2"}, "AD"),
    ({"asset_file_ids": ["f1", "f2"]}, "A"),
    ({"asset_file_ids": ["f2", "f1"]}, ""),
    ({"asset_file_ids": []}, "C"),
    # embedded document equality
    ({"asset_container_registry_creds_config": {"user": "x"}}, "C"),
    ({"asset_container_registry_creds_config": {"user": "y"}}, ""),
    # $eq / $ne
    ({"profiles.asset_sub_type": {"$eq": "image"}}, "AB"),
    ({"profiles.asset_type": {"$ne": "model"}}, "BD"),
    ({"asset_workflow_id": {"$ne": "wf-1"}}, "BCD"),
    # comparisons, numbers across int/float
    ({"profiles.asset_metadata.params": {"$gt": 7}}, "B"),
    ({"profiles.asset_metadata.params": {"$gte": 7}}, "AB"),
    ({"profiles.asset_metadata.params": {"$gte": 7.0}}, "AB"),
    ({"profiles.asset_metadata.params": {"$lt": 7}}, "C"),
    ({"profiles.asset_metadata.params": {"$lte": 7.0}}, "AC"),
    ({"profiles.asset_metadata.params": {"$gt": 3, "$lt": 7.5}}, "A"),
    ({"profiles.asset_metadata.params": 7.0}, "A"),
    ({"profiles.asset_metadata.params": 7.5}, "B"),
    # comparisons on strings; no comparison across types
    ({"asset_uri": {"$gt": "uri://b"}}, "CD"),
    ({"asset_uri": {"$lte": "uri://b"}}, "AB"),
    ({"asset_uri": {"$gt": 5}}, ""),
    ({"profiles.asset_metadata.params": {"$gt": "a"}}, ""),
    # $in / $nin
    ({"profiles.asset_tags": {"$in": ["vision", "text"]}}, "AB"),
    ({"profiles.asset_metadata.params": {"$in": [3.0, 7.5]}}, "BC"),
    ({"asset_workflow_id": {"$in": [None, "nope"]}}, "BCD"),
    ({"profiles.asset_tags": {"$nin": ["gen"]}}, "BD"),
    ({"asset_uri": {"$nin": ["uri://a", "uri://d"]}}, "BC"),
    ({"asset_uri": {"$in": []}}, ""),
    # $exists, null vs missing
    ({"asset_metadata_that_doesnt_exist": {"$exists": False}}, "ABCD"),
    ({"asset_metadata_that_doesnt_exist": {"$exists": True}}, ""),
    ({"asset_container_uri": {"$exists": True}}, "ABCD"),
    ({"profiles.asset_metadata.params": {"$exists": True}}, "ABC"),
    ({"profiles.asset_metadata.params": {"$exists": False}}, "D"),
    ({"asset_workflow_id": None}, "BCD"),
    ({"asset_container_uri": None}, "BCD"),
    ({"asset_metadata_that_doesnt_exist": None}, "ABCD"),
    ({"asset_workflow_id": {"$ne": None}}, "A"),
    ({"asset_brief_description": {"$type": "null"}}, "C"),
    # $regex
    ({"asset_brief_description": {"$regex": "^alpha"}}, ""),
    ({"asset_brief_description": {"$regex": "^alpha", "$options": "i"}}, "A"),
    ({"asset_brief_description": {"$regex": "^(alpha|beta)", "$options": "i"}}, "AB"),
    ({"asset_brief_description": {"$regex": "^delta$"}}, ""),
    ({"asset_brief_description": {"$regex": "^delta$", "$options": "i"}}, "D"),
    ({"asset_brief_description": {"$regex": "data"}}, "B"),
    ({"profiles.asset_tags": {"$regex": "^vis"}}, "B"),
    ({"asset_uri": {"$regex": "uri://[ab]"}}, "AB"),
    # logical operators
    ({"$and": [{"profiles.asset_type": "model"}, {"profiles.asset_type": "data"}]}, "A"),
    ({"$or": [{"asset_workflow_id": "wf-1"}, {"profiles.asset_type": "tool"}]}, "AC"),
    ({"$nor": [{"profiles.asset_type": "model"}, {"profiles.asset_type": "tool"}]}, "BD"),
    ({"$or": [{"$and": [{"asset_uri": "uri://a"}, {"asset_workflow_id": "wf-1"}]},
              {"$nor": [{"asset_uri": {"$lt": "uri://d"}}]}]}, "AD"),
    ({"profiles.asset_metadata.params": {"$not": {"$gt": 5}}}, "CD"),
    ({"asset_brief_description": {"$not": {"$regex": "^a", "$options": "i"}}}, "BCD"),
    # arrays
    ({"asset_file_ids": {"$all": ["f1", "f2"]}}, "AD"),
    ({"asset_file_ids": {"$all": ["f3", "f1"]}}, "D"),
    ({"profiles.asset_tags": {"$all": ["gen", "text"]}}, "A"),
    ({"asset_file_ids": {"$size": 3}}, "D"),
    ({"asset_file_ids": {"$size": 0}}, "C"),
    ({"profiles": {"$size": 2}}, "AC"),
    ({"profiles": {"$size": 0}}, "D"),
    ({"profiles": {"$elemMatch": {"asset_type": "model", "asset_sub_type": "transformer"}}}, "C"),
    ({"profiles": {"$elemMatch": {"asset_type": "data", "asset_sub_type": "llm"}}}, ""),
    ({"profiles.asset_type": "data", "profiles.asset_sub_type": "llm"}, "A"),
    ({"profiles": {"$elemMatch": {"asset_metadata.params": {"$gte": 7}}}}, "AB"),
    ({"asset_file_ids": {"$elemMatch": {"$in": ["f3"]}}}, "D"),
    ({"profiles.asset_metadata.layers": {"$elemMatch": {"$gt": 2}}}, "A"),
    # $type
    ({"asset_workflow_id": {"$type": "string"}}, "A"),
    ({"asset_workflow_id": {"$type": "null"}}, "BCD"),
    ({"asset_container_registry_creds_config": {"$type": "object"}}, "C"),
    ({"profiles.asset_metadata.params": {"$type": "number"}}, "ABC"),
    ({"profiles.asset_metadata.params": {"$type": "double"}}, "B"),
    ({"asset_brief_description": {"$type": ["string", "null"]}}, "ABCD"),
]


@pytest.mark.parametrize("flt,want", CASES, ids=[json.dumps(c[0])[:70] for c in CASES])
def test_filter(api, ds, flt, want):
    assert run(api, ds, flt) == want, f"filter {json.dumps(flt)}"


def test_search_returns_whole_assets(api, ds):
    data = ok(api.search({"asset_uri": "uri://a", "asset_version": ds["marker"]}))
    assert len(data) == 1
    assert data[0]["asset_id"] == ds["ids"]["A"]
    assert data[0]["profiles"][0]["asset_metadata"] == {"params": 7, "name": "alpha", "layers": [1, 2, 3]}


def test_search_list_params(api, ds):
    ids = ds["ids"]
    flt = {"asset_version": ds["marker"]}
    assert api.search_ids(flt, {"sort": "asset_uri:desc"}) == [ids[k] for k in "DCBA"]
    assert api.search_ids(flt, {"sort": "asset_uri", "skip": 1, "limit": 2}) == [ids["B"], ids["C"]]
    data = ok(api.search(flt, {"fields": "asset_uri"}))
    assert all(set(x) == {"asset_id", "asset_uri"} for x in data)


@pytest.mark.parametrize("op", ["$where", "$expr", "$function", "$accumulator", "$foo"])
def test_forbidden_top_level_operator_is_400(api, op):
    r = api.search({op: "function() { return true; }"})
    err(r, 400, "invalid_filter", op)


@pytest.mark.parametrize("op", ["$where", "$expr", "$foo", "$regexp"])
def test_unknown_field_operator_is_400(api, op):
    r = api.search({"asset_id": {op: "x"}})
    err(r, 400, "invalid_filter", op)


@pytest.mark.parametrize("flt,name", [
    ({"asset_id": {"$in": "x"}}, "$in"),
    ({"asset_id": {"$nin": 5}}, "$nin"),
    ({"asset_id": {"$all": "x"}}, "$all"),
    ({"asset_file_ids": {"$size": -1}}, "$size"),
    ({"asset_file_ids": {"$size": "two"}}, "$size"),
    ({"asset_id": {"$regex": "("}}, ("$regex", "regex", "asset_id")),
    ({"asset_id": {"$regex": 5}}, "$regex"),
    ({"$and": {"asset_id": "x"}}, "$and"),
    ({"$or": []}, "$or"),
    ({"$nor": "x"}, "$nor"),
    ({"asset_id": {"$not": "x"}}, "$not"),
    ({"asset_id": {"$type": "no-such-type"}}, "$type"),
    ({"profiles": {"$elemMatch": 3}}, "$elemMatch"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v))
def test_bad_operand_is_400(api, flt, name):
    msg = err(api.search(flt), 400, "invalid_filter")
    names = (name,) if isinstance(name, str) else name
    assert any(n in msg for n in names), f"error {msg!r} names none of {names}"


@pytest.mark.parametrize("body", [[], "x", 5, None, [{"asset_id": "x"}]],
                         ids=["empty-array", "string", "number", "null", "array-of-filter"])
def test_filter_not_an_object_is_400(api, body):
    r = api.post("/query/search", data=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"})
    err(r, 400, ("invalid_filter", "bad_request"))


def _nested(n, op):
    f = {"asset_id": "x"}
    for i in range(n):
        f = {op if i % 2 == 0 else ("$or" if op == "$and" else "$and"): [f]}
    return f


def test_deep_nesting_is_400(api):
    r = api.search(_nested(100, "$and"))
    err(r, 400, ("invalid_filter", "invalid_json"))


def test_moderate_nesting_is_fine(api, ds):
    f = {"asset_uri": "uri://b"}
    for i in range(10):
        f = {("$and" if i % 2 else "$or"): [f]}
    assert run(api, ds, f) == "B"


def test_filter_too_many_nodes_or_list_is_400(api):
    err(api.search({"asset_id": {"$in": [str(i) for i in range(5000)]}}), 400, "invalid_filter")


def test_server_alive_after_bad_filters(api):
    ok(api.get("/healthz"))


def test_catastrophic_regex_is_bounded(api, server):
    m = uniq("redos")
    a = make_asset(version=m, asset_brief_description="a" * 30000 + "!")
    api.create(a)
    r = api.search({"asset_version": m, "asset_brief_description": {"$regex": "^(a+)+$"}})
    # no match (200, []) or refused as over the regex limits (400); never a hang or a 5xx
    if r.status_code == 200:
        assert ok(r) == []
    else:
        err(r, 400, "invalid_filter")
    ok(api.get("/healthz"))
    assert server.alive()


def test_regex_options_unknown_letter_is_400(api):
    err(api.search({"asset_id": {"$regex": "a", "$options": "q"}}), 400, "invalid_filter")


def test_options_without_regex_is_400(api):
    err(api.search({"asset_id": {"$options": "i"}}), 400, "invalid_filter", "$options")
