"""
test_assets.py - create, read, update, delete of assets (POST/PUT/DELETE
/assets, GET /assets/<id>, GET /query/by-id/<id>): canonical form,
validation messages naming the path, revisions (ETag, If-Match,
If-None-Match), percent-encoded ids.
"""

import copy
import json

import pytest

from e2e_helpers import (ASSET_FIELDS, API_FIELDS, FILE_FIELDS, INDEX_MAPPING_FIELDS,
                         POLICY_FIELDS, PROFILE_FIELDS, canonical, err, etag_rev,
                         make_api, make_asset, make_profile, ok, seg, uniq)


def full_asset():
    """An asset using every embedded type, only required fields inside them."""
    aid = uniq("full")
    return make_asset(
        aid,
        asset_file_ids=["file-1", "file-2"],
        profiles=[{"asset_profile_id": "p1", "asset_type": "model",
                   "asset_sub_type": "llm", "asset_id": aid}],
        policies=[{"asset_policy_id": "pol1", "asset_id": aid, "asset_policy_type": "access"}],
        files=[{"asset_file_id": "file-1", "asset_file_type": "weights",
                "asset_file_mime_type": "application/octet-stream",
                "asset_file_url": "s3://bucket/file-1"}],
        apis=[{"asset_api_id": "api1", "asset_id": aid}],
        index_mappings=[{"json_doc_id": "doc1", "mapping_field_index": 0, "table_name": "t",
                         "field_name": "f", "render_page_no": 1, "render_order_no": 2}],
    )


# ---- create ------------------------------------------------------------------

def test_create_returns_201_with_canonical_asset(api):
    a = full_asset()
    r = api.post("/assets", json=a)
    data = ok(r, 201)
    assert data == canonical(a)
    # schema order, at every level
    assert list(data) == [f for f, _ in ASSET_FIELDS]
    assert list(data["profiles"][0]) == [f for f, _ in PROFILE_FIELDS]
    assert list(data["policies"][0]) == [f for f, _ in POLICY_FIELDS]
    assert list(data["files"][0]) == [f for f, _ in FILE_FIELDS]
    assert list(data["apis"][0]) == [f for f, _ in API_FIELDS]
    assert list(data["index_mappings"][0]) == [f for f, _ in INDEX_MAPPING_FIELDS]
    # optional fields are present, null or []
    assert data["asset_container_uri"] is None
    assert data["asset_policy_ids"] == []
    assert data["profiles"][0]["asset_tags"] == []
    assert data["profiles"][0]["asset_metadata"] is None
    assert data["apis"][0]["asset_api_usage_samples"] == []
    assert data["apis"][0]["asset_api_route"] is None
    etag_rev(r)


def test_create_minimal_asset_fills_every_list_default(api):
    aid = uniq("min")
    a = {"asset_id": aid, "asset_uri": "u://x", "asset_version": "v1",
         "asset_profile_id": "p", "asset_file_ids": []}
    data = ok(api.post("/assets", json=a), 201)
    assert data == canonical(a)
    for f in ("profiles", "policies", "files", "apis", "index_mappings",
              "asset_policy_ids", "asset_api_ids"):
        assert data[f] == [], f
    for f in ("asset_container_uri", "asset_container_registry_creds_config",
              "asset_workflow_id", "asset_brief_description"):
        assert data[f] is None, f


def test_created_asset_is_readable_as_stored(api):
    a = full_asset()
    a["asset_brief_description"] = "a description"
    a["profiles"][0]["asset_metadata"] = {"params": 7, "nested": {"k": [1, 2.5, None, True]}}
    created = ok(api.create(a), 201)
    for path in ("/query/by-id/", "/assets/"):
        r = api.get(path + seg(a["asset_id"]))
        assert ok(r, 200) == created
        etag_rev(r)


def test_create_keeps_optional_values_given(api):
    aid = uniq("opt")
    a = make_asset(aid, asset_container_uri="docker://img:1", asset_workflow_id="wf",
                   asset_policy_ids=["pol"], asset_api_ids=["api"],
                   asset_container_registry_creds_config={"user": "u", "n": 1},
                   asset_brief_description="desc",
                   profiles=[make_profile(aid, "data", "image", ["x", "y"],
                                          asset_description="d", asset_creator_info={"who": "me"})],
                   apis=[make_api(aid, "/r", asset_api_protocol="HTTP",
                                  asset_api_usage_samples=[{"in": 1}])])
    data = ok(api.post("/assets", json=a), 201)
    assert data == canonical(a)
    assert data["profiles"][0]["asset_tags"] == ["x", "y"]
    assert data["apis"][0]["asset_api_usage_samples"] == [{"in": 1}]


def test_create_duplicate_is_400_already_exists(api):
    a = make_asset()
    api.create(a)
    b = make_asset(a["asset_id"], version="v2")
    err(api.post("/assets", json=b), 400, "already_exists")
    # the first one is unchanged
    assert ok(api.get_asset(a["asset_id"]))["asset_version"] == "v1"


def test_create_accepts_content_type_with_charset(api):
    a = make_asset()
    r = api.post("/assets", data=json.dumps(a).encode(),
                 headers={"Content-Type": "application/json; charset=utf-8"})
    ok(r, 201)


# ---- validation -------------------------------------------------------------

def _without(d, key):
    d = copy.deepcopy(d)
    del d[key]
    return d


def _case_missing_profile_type():
    a = make_asset()
    del a["profiles"][0]["asset_type"]
    return a, "profiles[0].asset_type: required"


def _case_file_id_not_string():
    a = make_asset(asset_file_ids=["a", "b", 3])
    return a, "asset_file_ids[2]: must be a string"


def _case_unknown_field():
    a = make_asset(foo=1)
    return a, "foo: unknown field"


def _case_slash_in_id():
    a = make_asset(uniq("a") + "/b")
    return a, "asset_id: must not contain '/'"


def _case_missing_uri():
    return _without(make_asset(), "asset_uri"), "asset_uri: required"


def _case_missing_file_ids():
    return _without(make_asset(), "asset_file_ids"), "asset_file_ids: required"


def _case_unknown_nested_field():
    a = make_asset()
    a["profiles"][0]["bar"] = 1
    return a, "profiles[0].bar: unknown field"


def _case_second_profile():
    a = make_asset()
    p = make_profile(a["asset_id"], "data", "image")
    del p["asset_sub_type"]
    a["profiles"].append(p)
    return a, "profiles[1].asset_sub_type: required"


def _case_version_type():
    return make_asset(version=5), "asset_version:"


def _case_index_mapping_int():
    a = make_asset(index_mappings=[{"json_doc_id": "d", "mapping_field_index": "zero",
                                    "table_name": "t", "field_name": "f",
                                    "render_page_no": 1, "render_order_no": 1}])
    return a, "index_mappings[0].mapping_field_index:"


def _case_tags_not_strings():
    a = make_asset(tags=["ok", {"no": 1}])
    return a, "profiles[0].asset_tags[1]:"


def _case_metadata_not_object():
    a = make_asset()
    a["profiles"][0]["asset_metadata"] = [1, 2]
    return a, "profiles[0].asset_metadata:"


def _case_profiles_not_list():
    a = make_asset()
    a["profiles"] = {"asset_type": "model"}
    return a, "profiles:"


def _case_empty_id():
    return make_asset(""), "asset_id:"


def _case_control_char_id():
    return make_asset(uniq("ctl") + "\x01"), "asset_id:"


def _case_file_missing_url():
    a = make_asset(files=[{"asset_file_id": "f", "asset_file_type": "w",
                           "asset_file_mime_type": "x/y"}])
    return a, "files[0].asset_file_url: required"


def _case_id_null():
    a = make_asset()
    a["asset_id"] = None
    return a, "asset_id:"


VALIDATION_CASES = {
    "missing profile type": _case_missing_profile_type,
    "file id not a string": _case_file_id_not_string,
    "unknown field": _case_unknown_field,
    "slash in asset_id": _case_slash_in_id,
    "missing asset_uri": _case_missing_uri,
    "missing asset_file_ids": _case_missing_file_ids,
    "unknown nested field": _case_unknown_nested_field,
    "second profile incomplete": _case_second_profile,
    "asset_version not a string": _case_version_type,
    "index mapping int as string": _case_index_mapping_int,
    "tag not a string": _case_tags_not_strings,
    "metadata not an object": _case_metadata_not_object,
    "profiles not a list": _case_profiles_not_list,
    "empty asset_id": _case_empty_id,
    "control character in asset_id": _case_control_char_id,
    "file without url": _case_file_missing_url,
    "asset_id null": _case_id_null,
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_create_invalid_is_400_naming_the_path(api, case):
    asset, message = VALIDATION_CASES[case]()
    r = api.post("/assets", json=asset)
    err(r, 400, "validation_failed", message)
    if isinstance(asset.get("asset_id"), str) and asset["asset_id"] and "/" not in asset["asset_id"] \
            and "\x01" not in asset["asset_id"]:
        err(api.get_asset(asset["asset_id"]), 404, "not_found")


@pytest.mark.parametrize("body", [[], "asset", 42, None], ids=["array", "string", "number", "null"])
def test_create_body_not_an_object_is_400(api, body):
    r = api.post("/assets", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    err(r, 400, ("validation_failed", "bad_request", "invalid_json"))


def test_asset_id_length_limit(api):
    base = uniq("len")
    id256 = base + "x" * (256 - len(base))
    id257 = base + "y" * (257 - len(base))
    assert len(id256.encode()) == 256 and len(id257.encode()) == 257
    err(api.post("/assets", json=make_asset(id257)), 400, "validation_failed", "asset_id")
    data = ok(api.post("/assets", json=make_asset(id256)), 201)
    assert data["asset_id"] == id256
    assert ok(api.get_asset(id256))["asset_id"] == id256


def test_asset_id_length_counts_bytes(api):
    # 'é' is two bytes: 129 of them are 258 bytes, over the 256-byte limit.
    err(api.post("/assets", json=make_asset("é" * 129)), 400, "validation_failed", "asset_id")


# ---- update -------------------------------------------------------------------

def test_update_changes_only_given_fields(api):
    a = make_asset(asset_workflow_id="wf-1", tags=["t1"])
    created = ok(api.create(a), 201)
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_brief_description": "Updated description"})
    data = ok(r, 200)
    want = dict(created, asset_brief_description="Updated description")
    assert data == want
    assert ok(api.get_asset(a["asset_id"])) == want


def test_update_replaces_a_whole_top_level_list(api):
    a = make_asset(tags=["old"])
    api.create(a)
    new_profiles = [make_profile(a["asset_id"], "data", "image", ["new"]),
                    make_profile(a["asset_id"], "tool", "cli")]
    data = ok(api.put("/assets/" + seg(a["asset_id"]), json={"profiles": new_profiles}), 200)
    assert data["profiles"] == canonical({**a, "profiles": new_profiles})["profiles"]
    assert [p["asset_type"] for p in ok(api.get_asset(a["asset_id"]))["profiles"]] == ["data", "tool"]


def test_update_can_clear_an_optional_field(api):
    a = make_asset(asset_workflow_id="wf")
    api.create(a)
    data = ok(api.put("/assets/" + seg(a["asset_id"]), json={"asset_workflow_id": None}), 200)
    assert data["asset_workflow_id"] is None


def test_update_with_same_asset_id_in_body_is_ok(api):
    a = make_asset()
    api.create(a)
    data = ok(api.put("/assets/" + seg(a["asset_id"]),
                      json={"asset_id": a["asset_id"], "asset_version": "v2"}), 200)
    assert data["asset_version"] == "v2"


def test_update_increments_etag(api):
    a = make_asset()
    rev1 = etag_rev(api.create(a))
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v2"})
    ok(r, 200)
    rev2 = etag_rev(r)
    assert rev2 == rev1 + 1
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v3"})
    assert etag_rev(r) == rev1 + 2
    assert etag_rev(api.get_asset(a["asset_id"])) == rev1 + 2


def _assert_unchanged(api, a, before):
    r = api.get_asset(a["asset_id"])
    assert ok(r) == ok(before[0])
    assert etag_rev(r) == etag_rev(before[0])


@pytest.mark.parametrize("patch,message", [
    ({"asset_version": 5}, "asset_version:"),
    ({"profiles": [{"asset_type": "model"}]}, "profiles[0]."),
    ({"asset_file_ids": ["a", "b", 3]}, "asset_file_ids[2]: must be a string"),
    ({"asset_uri": None}, "asset_uri:"),
    ({"foo": 1}, "foo: unknown field"),
], ids=["wrong type", "incomplete profile", "file id type", "required null", "unknown field"])
def test_update_invalid_result_is_400_and_changes_nothing(api, patch, message):
    a = make_asset()
    api.create(a)
    before = [api.get_asset(a["asset_id"])]
    r = api.put("/assets/" + seg(a["asset_id"]), json=patch)
    err(r, 400, "validation_failed", message)
    _assert_unchanged(api, a, before)


def test_update_asset_id_mismatch_is_400(api):
    a = make_asset()
    api.create(a)
    before = [api.get_asset(a["asset_id"])]
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_id": a["asset_id"] + "-other",
                                                       "asset_version": "v9"})
    err(r, 400, "validation_failed", "asset_id")
    _assert_unchanged(api, a, before)
    err(api.get_asset(a["asset_id"] + "-other"), 404, "not_found")


def test_update_missing_asset_is_404(api):
    err(api.put("/assets/" + uniq("absent"), json={"asset_version": "v2"}), 404, "not_found")


def test_update_body_must_be_object(api):
    a = make_asset()
    api.create(a)
    r = api.put("/assets/" + seg(a["asset_id"]), json=["asset_version"])
    err(r, 400, ("validation_failed", "bad_request"))


# ---- If-Match / If-None-Match -----------------------------------------------

def test_if_match_stale_revision_is_412_and_changes_nothing(api):
    a = make_asset()
    rev = etag_rev(api.create(a))
    ok(api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v2"}))
    before = [api.get_asset(a["asset_id"])]
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v3"},
                headers={"If-Match": f'"{rev}"'})
    err(r, 412, "precondition_failed")
    _assert_unchanged(api, a, before)


def test_if_match_current_revision_is_200(api):
    a = make_asset()
    rev = etag_rev(api.create(a))
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v2"},
                headers={"If-Match": f'"{rev}"'})
    assert ok(r)["asset_version"] == "v2"
    assert etag_rev(r) == rev + 1


def test_if_match_star_is_200(api):
    a = make_asset()
    api.create(a)
    r = api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v2"},
                headers={"If-Match": "*"})
    assert ok(r)["asset_version"] == "v2"


def test_two_writers_second_gets_412(api, server):
    a = make_asset()
    api.create(a)
    rev = etag_rev(api.get_asset(a["asset_id"]))
    writer_a = server.client(0)
    writer_b = server.client(1)
    try:
        ra = writer_a.put("/assets/" + seg(a["asset_id"]), json={"asset_brief_description": "A"},
                          headers={"If-Match": f'"{rev}"'})
        assert ok(ra)["asset_brief_description"] == "A"
        rb = writer_b.put("/assets/" + seg(a["asset_id"]), json={"asset_brief_description": "B"},
                          headers={"If-Match": f'"{rev}"'})
        err(rb, 412, "precondition_failed")
    finally:
        writer_a.close()
        writer_b.close()
    assert ok(api.get_asset(a["asset_id"]))["asset_brief_description"] == "A"


def test_delete_with_stale_if_match_is_412(api):
    a = make_asset()
    rev = etag_rev(api.create(a))
    ok(api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v2"}))
    err(api.delete("/assets/" + seg(a["asset_id"]), headers={"If-Match": f'"{rev}"'}),
        412, "precondition_failed")
    ok(api.get_asset(a["asset_id"]))
    ok(api.delete("/assets/" + seg(a["asset_id"]), headers={"If-Match": f'"{rev + 1}"'}))
    err(api.get_asset(a["asset_id"]), 404, "not_found")


@pytest.mark.parametrize("prefix", ["/query/by-id/", "/assets/"])
def test_if_none_match_current_is_304(api, prefix):
    a = make_asset()
    api.create(a)
    r = api.get(prefix + seg(a["asset_id"]))
    ok(r)
    tag = r.headers["ETag"]
    r2 = api.get(prefix + seg(a["asset_id"]), headers={"If-None-Match": tag})
    assert r2.status_code == 304, f"want 304, got {r2.status_code}: {r2.text[:300]}"
    assert r2.content == b""
    # after an update the old tag no longer matches
    ok(api.put("/assets/" + seg(a["asset_id"]), json={"asset_version": "v2"}))
    r3 = api.get(prefix + seg(a["asset_id"]), headers={"If-None-Match": tag})
    assert ok(r3)["asset_version"] == "v2"
    assert r3.headers["ETag"] != tag


# ---- delete -----------------------------------------------------------------------

def test_delete_then_404(api):
    t = uniq("deltype")
    tag = uniq("deltag")
    sub = uniq("delsub")
    route = "/api/" + uniq("del") + "/generate"
    a = make_asset(asset_type=t, sub_type=sub, tags=[tag], route=route, version=uniq("delver"))
    api.create(a)
    assert api.ids("/query/by-type/" + seg(t)) == [a["asset_id"]]
    r = api.delete("/assets/" + seg(a["asset_id"]))
    assert ok(r) == {"asset_id": a["asset_id"], "deleted": True}
    err(api.get_asset(a["asset_id"]), 404, "not_found")
    err(api.get("/assets/" + seg(a["asset_id"])), 404, "not_found")
    err(api.delete("/assets/" + seg(a["asset_id"])), 404, "not_found")
    # gone from every query
    assert api.ids("/query/by-type/" + seg(t)) == []
    assert api.ids("/query/by-sub-type/" + seg(sub)) == []
    assert api.ids("/query/by-tag/" + seg(tag)) == []
    assert api.ids("/query/by-api-route" + route) == []
    assert api.search_ids({"asset_version": a["asset_version"]}) == []
    assert a["asset_id"] not in api.ids("/assets")
    # and the id can be used again
    ok(api.post("/assets", json=a), 201)


def test_delete_missing_is_404(api):
    err(api.delete("/assets/" + uniq("never")), 404, "not_found")


# ---- percent-encoded ids --------------------------------------------------------

@pytest.mark.parametrize("raw", ["a b", "café é", "100%", "what?", "hash#tag", "plus+sign",
                                 "semi;colon", "amp&eq=", "日本語"],
                         ids=["space", "e-acute", "percent", "question", "hash", "plus",
                              "semicolon", "ampersand", "cjk"])
def test_percent_encoded_ids_reachable(api, raw):
    aid = uniq("enc") + " " + raw
    a = make_asset(aid)
    api.create(a)
    for prefix in ("/query/by-id/", "/assets/"):
        assert ok(api.get(prefix + seg(aid)))["asset_id"] == aid
    assert ok(api.put("/assets/" + seg(aid), json={"asset_version": "v2"}))["asset_version"] == "v2"
    assert ok(api.delete("/assets/" + seg(aid))) == {"asset_id": aid, "deleted": True}
    err(api.get("/query/by-id/" + seg(aid)), 404, "not_found")


def test_percent_encoded_query_values(api):
    t = uniq("my type é")
    tag = uniq("tag #1?")
    a = make_asset(asset_type=t, tags=[tag])
    api.create(a)
    assert api.ids("/query/by-type/" + seg(t)) == [a["asset_id"]]
    assert api.ids("/query/by-tag/" + seg(tag)) == [a["asset_id"]]


def test_list_all_assets_contains_created(api):
    a = make_asset()
    api.create(a)
    data = ok(api.get("/assets"))
    assert isinstance(data, list)
    mine = [x for x in data if x["asset_id"] == a["asset_id"]]
    assert mine == [canonical(a)]


# ---- concurrency -------------------------------------------------------------------

def _race(server, n, fn):
    """Runs fn(client, i) in n threads released together; returns the results."""
    import concurrent.futures
    import threading
    barrier = threading.Barrier(n)
    clients = [server.client(i % 2) for i in range(n)]

    def run(i):
        barrier.wait(timeout=30)
        return fn(clients[i], i)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(run, range(n)))
    finally:
        for c in clients:
            c.close()


def test_concurrent_if_match_updates_exactly_one_wins(api, server):
    a = make_asset()
    rev = etag_rev(api.create(a))
    path = "/assets/" + seg(a["asset_id"])

    def put(c, i):
        r = c.put(path, json={"asset_brief_description": f"writer {i}"}, headers={"If-Match": f'"{rev}"'})
        return r.status_code, r.json()

    results = _race(server, 12, put)
    statuses = sorted(s for s, _ in results)
    assert statuses.count(200) == 1, f"want exactly one 200, got {statuses}"
    assert statuses.count(412) == 11, f"want eleven 412, got {statuses}"
    winner = next(b for s, b in results if s == 200)["data"]["asset_brief_description"]
    r = api.get_asset(a["asset_id"])
    assert ok(r)["asset_brief_description"] == winner
    assert etag_rev(r) == rev + 1


def test_concurrent_creates_of_one_id_exactly_one_wins(api, server):
    aid = uniq("race")

    def create(c, i):
        r = c.post("/assets", json=make_asset(aid, version=f"v{i}"))
        return r.status_code, r.json().get("code")

    results = _race(server, 12, create)
    assert sorted(s for s, _ in results) == [201] + [400] * 11, results
    assert all(code == "already_exists" for s, code in results if s == 400), results
    assert [x for x in api.ids("/assets", {"fields": "asset_version"}) if x == aid] == [aid]


def test_concurrent_updates_without_if_match_all_apply(api, server):
    a = make_asset()
    rev = etag_rev(api.create(a))
    path = "/assets/" + seg(a["asset_id"])

    def put(c, i):
        r = c.put(path, json={"asset_brief_description": f"w{i}"})
        return r.status_code, etag_rev(r) if r.status_code == 200 else None

    results = _race(server, 10, put)
    assert all(s == 200 for s, _ in results), results
    revs = sorted(r for _, r in results)
    assert revs == list(range(rev + 1, rev + 11)), f"each update gets its own revision: {revs}"


# ---- values round-trip --------------------------------------------------------------

def test_values_round_trip_exactly(api):
    aid = uniq("rt")
    meta = {"big": 2 ** 53 + 1, "neg": -(2 ** 62), "f": 0.1, "e": 1e-300, "zero": 0,
            "t": True, "n": None, "s": "tab\tquote\"back\\slash\u00e9\U0001F600",
            "nested": [[], {}, [1, [2, [3]]]], "key with spaces and é": 1}
    a = make_asset(aid, profiles=[make_profile(aid, asset_metadata=meta)])
    created = ok(api.create(a), 201)
    assert created["profiles"][0]["asset_metadata"] == meta
    assert ok(api.get_asset(aid))["profiles"][0]["asset_metadata"] == meta
    assert api.search_ids({"asset_id": aid, "profiles.asset_metadata.big": 2 ** 53 + 1}) == [aid]
    assert api.search_ids({"asset_id": aid, "profiles.asset_metadata.big": 2 ** 53}) == []


def test_304_carries_the_etag(api):
    a = make_asset()
    api.create(a)
    r = api.get_asset(a["asset_id"])
    tag = r.headers["ETag"]
    r2 = api.get("/query/by-id/" + seg(a["asset_id"]), headers={"If-None-Match": tag})
    assert r2.status_code == 304
    assert r2.headers.get("ETag") == tag


def test_if_none_match_star_is_304(api):
    a = make_asset()
    api.create(a)
    r = api.get_asset(a["asset_id"])
    r2 = api.get("/query/by-id/" + seg(a["asset_id"]), headers={"If-None-Match": "*"})
    assert r2.status_code == 304, f"want 304, got {r2.status_code}"
    r3 = api.get("/query/by-id/" + seg(a["asset_id"]), headers={"If-None-Match": '"999999"'})
    assert ok(r3)["asset_id"] == a["asset_id"]
    assert r3.headers["ETag"] == r.headers["ETag"]
