"""
test_query.py - the fixed queries (by-id, by-type, by-sub-type, by-tag,
by-api-route), the list parameters every list route takes (limit, skip,
sort, fields), and a large list streamed over 3000 assets.
"""

import concurrent.futures
import random
import threading

import pytest

from e2e_helpers import (Client, err, make_api, make_asset, make_profile, ok, seg, uniq)


# ---- matching any profile --------------------------------------------------------

def two_profile_asset(first, second):
    """An asset with two profiles; kwargs of make_profile for each."""
    aid = uniq("two")
    return make_asset(aid, profiles=[make_profile(aid, **first), make_profile(aid, **second)])


def test_by_type_matches_any_profile(api):
    t = uniq("type")
    a = two_profile_asset(dict(asset_type="data", sub_type="image"),
                          dict(asset_type=t, sub_type="x"))
    b = make_asset(asset_type=t)
    c = make_asset(asset_type=uniq("other"))
    for x in (a, b, c):
        api.create(x)
    assert api.ids("/query/by-type/" + seg(t)) == [a["asset_id"], b["asset_id"]]
    data = ok(api.get("/query/by-type/" + seg(t)))
    assert data[0]["profiles"][1]["asset_type"] == t  # whole assets are returned


def test_by_sub_type_matches_any_profile(api):
    s = uniq("sub")
    a = two_profile_asset(dict(asset_type="model", sub_type="llm"),
                          dict(asset_type="model", sub_type=s))
    api.create(a)
    api.create(make_asset(sub_type=uniq("othersub")))
    assert api.ids("/query/by-sub-type/" + seg(s)) == [a["asset_id"]]


def test_by_tag_matches_any_profile(api):
    tag = uniq("tag")
    a = two_profile_asset(dict(tags=["alpha", "beta"]), dict(tags=["gamma", tag]))
    b = make_asset(tags=[tag + "-not-quite"])
    api.create(a)
    api.create(b)
    assert api.ids("/query/by-tag/" + seg(tag)) == [a["asset_id"]]


def test_by_type_is_exact_not_prefix(api):
    t = uniq("exact")
    api.create(make_asset(asset_type=t + "suffix"))
    assert api.ids("/query/by-type/" + seg(t)) == []


def test_by_type_is_case_sensitive(api):
    t = uniq("Case")
    a = make_asset(asset_type=t)
    api.create(a)
    assert api.ids("/query/by-type/" + seg(t)) == [a["asset_id"]]
    assert api.ids("/query/by-type/" + seg(t.upper())) == []


@pytest.mark.parametrize("route", ["by-type", "by-sub-type", "by-tag", "by-api-route"])
def test_no_match_is_200_empty_list(api, route):
    r = api.get(f"/query/{route}/" + uniq("nothing"))
    assert ok(r) == []


# ---- API routes ------------------------------------------------------------------

def test_by_api_route_with_slashes(api):
    u = uniq("r")
    a = make_asset(route=f"/api/{u}/generate")
    api.create(a)
    assert api.ids(f"/query/by-api-route/api/{u}/generate") == [a["asset_id"]]
    assert api.ids(f"/query/by-api-route/api/{u}") == []
    assert api.ids(f"/query/by-api-route/api/{u}/generate/more") == []


def test_by_api_route_stored_with_slash_matched_without(api):
    u = uniq("r")
    a = make_asset(route=f"/api/{u}/generate")
    api.create(a)
    # the query route is "api/<u>/generate"
    assert api.ids(f"/query/by-api-route/api/{u}/generate") == [a["asset_id"]]


def test_by_api_route_stored_without_slash_matched_with_slash(api):
    u = uniq("r")
    a = make_asset(route=f"api/{u}/generate")
    api.create(a)
    # the query route is "/api/<u>/generate": as typed after the prefix ...
    assert api.ids(f"/query/by-api-route//api/{u}/generate") == [a["asset_id"]]
    # ... and with the leading slash percent-encoded
    assert api.ids(f"/query/by-api-route/%2Fapi%2F{u}%2Fgenerate") == [a["asset_id"]]


def test_by_api_route_any_api(api):
    u = uniq("r")
    aid = uniq("apis")
    a = make_asset(aid, apis=[make_api(aid, "/first"), make_api(aid), make_api(aid, f"/{u}/x")])
    api.create(a)
    assert api.ids(f"/query/by-api-route/{u}/x") == [aid]


# ---- list parameters ----------------------------------------------------------------

N_LIST = 6


@pytest.fixture(scope="module")
def listset(server):
    """N_LIST assets sharing a unique type, sub-type, tag, API route and
    version, created in an order different from their asset_id order."""
    c = server.client(0)
    m = uniq("list")
    route = f"/api/{m}/gen"
    order = list(range(N_LIST))
    random.Random(7).shuffle(order)
    created = []
    for rank, i in enumerate(order):
        aid = f"{m}-{i:02d}"
        a = make_asset(aid, asset_type=m + "-type", sub_type=m + "-sub", tags=[m + "-tag"],
                       route=route, version=m,
                       asset_brief_description=f"desc {i}",
                       asset_container_registry_creds_config={"rank": (rank * 5) % N_LIST})
        c.create(a)
        created.append(a)
    c.close()
    return {
        "marker": m,
        "created": [a["asset_id"] for a in created],  # creation order
        "by_rank": [a["asset_id"] for a in sorted(
            created, key=lambda a: a["asset_container_registry_creds_config"]["rank"])],
        "routes": {
            "by-type": ("GET", f"/query/by-type/{m}-type"),
            "by-sub-type": ("GET", f"/query/by-sub-type/{m}-sub"),
            "by-tag": ("GET", f"/query/by-tag/{m}-tag"),
            "by-api-route": ("GET", f"/query/by-api-route{route}"),
            "search": ("POST", "/query/search"),
        },
    }


LIST_ROUTES = ["by-type", "by-sub-type", "by-tag", "by-api-route", "search"]


def _list(api, listset, route, params=None):
    method, path = listset["routes"][route]
    if method == "POST":
        r = api.post(path, json={"asset_version": listset["marker"]}, params=params)
    else:
        r = api.get(path, params=params)
    return r


def _ids(api, listset, route, params=None):
    data = ok(_list(api, listset, route, params))
    assert isinstance(data, list)
    return [a["asset_id"] for a in data]


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_list_default_order_is_creation_order(api, listset, route):
    assert _ids(api, listset, route) == listset["created"]


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_list_sort_asc_and_desc(api, listset, route):
    want = sorted(listset["created"])
    assert _ids(api, listset, route, {"sort": "asset_id"}) == want
    assert _ids(api, listset, route, {"sort": "asset_id:asc"}) == want
    assert _ids(api, listset, route, {"sort": "asset_id:desc"}) == want[::-1]


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_list_sort_by_dotted_path(api, listset, route):
    params = {"sort": "asset_container_registry_creds_config.rank"}
    assert _ids(api, listset, route, params) == listset["by_rank"]
    params = {"sort": "asset_container_registry_creds_config.rank:desc"}
    assert _ids(api, listset, route, params) == listset["by_rank"][::-1]


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_list_limit_and_skip(api, listset, route):
    created = listset["created"]
    want = sorted(created)
    assert _ids(api, listset, route, {"limit": 2}) == created[:2]
    assert _ids(api, listset, route, {"skip": 4}) == created[4:]
    assert _ids(api, listset, route, {"limit": 2, "skip": 1, "sort": "asset_id"}) == want[1:3]
    assert _ids(api, listset, route, {"limit": 3, "skip": 2, "sort": "asset_id:desc"}) == want[::-1][2:5]
    assert _ids(api, listset, route, {"limit": 0}) == []
    assert _ids(api, listset, route, {"skip": 100}) == []
    assert _ids(api, listset, route, {"limit": 1000}) == created


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_list_fields_projection(api, listset, route):
    data = ok(_list(api, listset, route, {"fields": "asset_version,asset_brief_description",
                                          "sort": "asset_id"}))
    assert len(data) == N_LIST
    for item in data:
        assert set(item) == {"asset_id", "asset_version", "asset_brief_description"}, item
        assert item["asset_version"] == listset["marker"]
    assert data[0]["asset_brief_description"] == "desc 0"
    data = ok(_list(api, listset, route, {"fields": "profiles"}))
    assert set(data[0]) == {"asset_id", "profiles"}
    assert data[0]["profiles"][0]["asset_type"] == listset["marker"] + "-type"


@pytest.mark.parametrize("route", LIST_ROUTES + ["assets"])
@pytest.mark.parametrize("params,name", [
    ({"limit": "-1"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"skip": "-1"}, "skip"),
    ({"skip": "x"}, "skip"),
    ({"sort": ""}, "sort"),
    ({"sort": "asset_id:sideways"}, "sort"),
], ids=["limit-neg", "limit-abc", "limit-frac", "skip-neg", "skip-abc", "sort-empty", "sort-sideways"])
def test_list_bad_parameter_is_400(api, listset, route, params, name):
    if route == "assets":
        r = api.get("/assets", params=params)
    else:
        r = _list(api, listset, route, params)
    err(r, 400, "bad_request", name)


def test_list_all_assets_with_params(api, listset):
    full = [a["asset_id"] for a in ok(api.get("/assets", params={"sort": "asset_id"}))]
    assert full == sorted(full)
    assert set(listset["created"]) <= set(full)
    assert [a["asset_id"] for a in ok(api.get("/assets", params={"sort": "asset_id", "skip": 2,
                                                                "limit": 3}))] == full[2:5]
    assert [a["asset_id"] for a in ok(api.get("/assets", params={"sort": "asset_id:desc",
                                                                "limit": 4}))] == full[::-1][:4]
    data = ok(api.get("/assets", params={"fields": "asset_uri", "limit": 5}))
    assert len(data) == min(5, len(full))
    assert all(set(x) == {"asset_id", "asset_uri"} for x in data)


# ---- a large list -------------------------------------------------------------------

N_LARGE = 3000


def test_large_list_3000_assets(assetd_factory):
    inst = assetd_factory(name="large list instance")
    t = uniq("bulk")
    ids = [f"{t}-{i:05d}" for i in range(N_LARGE)]
    local = threading.local()
    sessions = []
    lock = threading.Lock()

    def client():
        c = getattr(local, "c", None)
        if c is None:
            c = local.c = Client(inst.base)
            with lock:
                sessions.append(c)
        return c

    def create(aid):
        r = client().post("/assets", json=make_asset(aid, asset_type=t, tags=[t]))
        return aid, r.status_code, r.text[:200]

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(create, ids))
    finally:
        for c in sessions:
            c.close()
    failed = [x for x in results if x[1] != 201]
    assert not failed, f"{len(failed)} creates failed, first: {failed[:3]}"

    api = inst.client()
    try:
        data = ok(api.get("/query/by-type/" + t))
        assert len(data) == N_LARGE
        assert sorted(a["asset_id"] for a in data) == ids
        assert all(a["profiles"][0]["asset_type"] == t for a in data)
        assert api.ids("/query/by-type/" + t, {"sort": "asset_id"}) == ids
        assert api.ids("/query/by-type/" + t, {"sort": "asset_id", "skip": 2900, "limit": 100}) == ids[2900:]
        assert api.ids("/query/by-type/" + t, {"sort": "asset_id:desc", "limit": 5}) == ids[::-1][:5]
        assert api.ids("/query/by-type/" + t, {"sort": "asset_id", "skip": 1500, "limit": 7}) == ids[1500:1507]
        assert len(api.ids("/query/by-tag/" + t, {"limit": 2500})) == 2500
        assert len(api.ids("/assets")) == N_LARGE
        n = len(api.search_ids({"profiles.asset_type": t, "asset_id": {"$regex": "0$"}}))
        assert n == N_LARGE // 10
        data = ok(api.get("/query/by-type/" + t, params={"fields": "asset_version", "limit": 3000}))
        assert len(data) == N_LARGE and set(data[0]) == {"asset_id", "asset_version"}
    finally:
        api.close()


def test_by_api_route_percent_encoded_characters(api):
    u = uniq("r")
    route = f"/api/{u}/my route é?"
    a = make_asset(route=route)
    api.create(a)
    assert api.ids(f"/query/by-api-route/api/{u}/my%20route%20%C3%A9%3F") == [a["asset_id"]]
    assert api.ids(f"/query/by-api-route/api/{u}/my%20route") == []
