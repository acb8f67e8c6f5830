#!/usr/bin/env python3
"""make_corpus.py — (re)writes the seed corpora of tests/fuzz/corpus/ from
the project's own examples: the seed's asset documents, the filter rows of
tests/unit/test_filter.c, the GraphQL documents of tests/graphql/corpus/,
every route of the route table, multipart bodies as curl -F sends them and
archive entry names. libFuzzer adds what it finds to a copy in build-fuzz/,
never here; run this again after changing the examples it reads."""
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clear(target):
    d = os.path.join(HERE, "corpus", target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            os.remove(os.path.join(d, n))


# ---- json: POST /assets and PUT /assets/{id} bodies ------------------------
SEED_ASSET = {
    "asset_id": "asset-001", "asset_uri": "models://example.com/asset-001",
    "asset_version": "v1", "asset_profile_id": "profile-001", "asset_file_ids": [],
    "profiles": [{"asset_profile_id": "profile-001", "asset_type": "model",
                  "asset_sub_type": "llm", "asset_id": "asset-001"}],
    "policies": [], "files": [], "apis": [], "index_mappings": [],
}
FULL_ASSET = {
    "asset_id": "a-full", "asset_uri": "models://example.com/a", "asset_version": "v2",
    "asset_profile_id": "p1", "asset_file_ids": ["f1", "f2"],
    "asset_container_uri": "oci://r/x:1", "asset_policy_ids": ["pol1"],
    "asset_container_registry_creds_config": {"user": "u", "nested": {"k": [1, 2.5, None]}},
    "asset_workflow_id": "wf", "asset_api_ids": ["api1"], "asset_brief_description": "brief",
    "profiles": [{"asset_profile_id": "p1", "asset_type": "model", "asset_sub_type": "llm",
                  "asset_id": "a-full", "asset_metadata": {"m": True},
                  "asset_creator_info": {"name": "x"}, "asset_tags": ["gen", "nlp"],
                  "asset_description": "d", "asset_complete_docs_url": "https://d",
                  "asset_man_page_url": None, "asset_sample_input_json": {"in": 1},
                  "asset_sample_output_json": {"out": [1]},
                  "asset_sample_input_data_url": "s3://i", "asset_sample_output_data_url": None,
                  "asset_author_metadata": {}}],
    "policies": [{"asset_policy_id": "pol1", "asset_id": "a-full", "asset_policy_type": "acl",
                  "asset_policy_rule_uri": "opa://r", "asset_policy_rule_config": {"a": 1},
                  "asset_policy_rule_params": None}],
    "files": [{"asset_file_id": "f1", "asset_file_type": "weights",
               "asset_file_mime_type": "application/octet-stream",
               "asset_file_url": "http://127.0.0.1/files/u/f1.bin",
               "asset_file_metadata": {"size": 10}}],
    "apis": [{"asset_api_id": "api1", "asset_id": "a-full", "asset_api_metadata": {},
              "asset_api_svc": "svc", "asset_api_route": "/api/v1/generate",
              "asset_api_protocol": "http", "asset_protocol_specific_config": {"port": 80},
              "asset_api_man_page": None, "asset_api_swagger_doc": "s",
              "asset_api_usage_samples": [{"x": 1}, {}]}],
    "index_mappings": [{"json_doc_id": "j", "mapping_field_index": 0, "table_name": "t",
                        "field_name": "f", "render_page_no": 1, "render_order_no": -2}],
}


def gen_json():
    clear("json")
    write("json", json.dumps(SEED_ASSET, indent=1))
    write("json", json.dumps(FULL_ASSET))
    minimal = {k: SEED_ASSET[k] for k in ("asset_id", "asset_uri", "asset_version",
                                          "asset_profile_id", "asset_file_ids")}
    write("json", json.dumps(minimal))
    write("json", '{"asset_brief_description": "Updated description"}')
    write("json", '{"asset_id": "a1", "asset_version": "v9"}')
    write("json", '{"unknown": 1}')
    write("json", '{"asset_id": "a/b", "asset_uri": "u", "asset_version": "v",'
                  ' "asset_profile_id": "p", "asset_file_ids": ["x", 1]}')
    write("json", '{"index_mappings": [{"mapping_field_index": 1.0}]}')
    write("json", '{"a": 1, "a": 2}')
    write("json", '{"s": "\\u00e9\\ud83d\\ude00 tab\\t\\/\\""}')
    write("json", '{"t": "\\u0000"}')
    write("json", '{"asset_id": "\\u00e9\\ud83d\\ude00", "asset_uri": "u", "asset_version": "v",'
                  ' "asset_profile_id": "p", "asset_file_ids": [], "asset_brief_description": null}')
    write("json", '[1, -0, 1e400, 9223372036854775808, -9223372036854775809, 0.5e-3, true, null]')
    write("json", "[" * 64 + "]" * 64)
    write("json", "[" * 65 + "]" * 65)
    write("json", '{"x": ' * 30 + "{}" + "}" * 30)
    write("json", '{"a": "\xff"}'.encode("latin-1"))
    write("json", '"just a string"')
    write("json", '{"asset_id": "a1"')


# ---- filter: POST /query/search bodies -------------------------------------
def gen_filter():
    clear("filter")
    src = open(os.path.join(ROOT, "tests", "unit", "test_filter.c")).read()
    seen = set()
    # table rows: {DOC, "FILTER", n} and {"FILTER", "message"}
    for m in re.finditer(r'\{\s*(?:ASSET|"[^"]*")\s*,\s*"(\{[^"]*\})"\s*,\s*-?\d\s*\}', src):
        seen.add(m.group(1))
    for m in re.finditer(r'\{\s*"(\{[^"]*\})"\s*,\s*"[^"]*"\s*\}', src):
        seen.add(m.group(1))
    n = 0
    for f in sorted(seen):
        text = f.replace("'", '"')
        try:
            json.loads(text)
        except ValueError:
            continue
        write("filter", text)
        n += 1
    write("filter", '{"asset_version": "v1", "profiles.asset_type": "model"}')
    write("filter", '{"$and": [{"$or": [{"a": {"$regex": "^(a+)+$", "$options": "imsx"}},'
                    ' {"b": {"$elemMatch": {"$gt": 5, "$lt": 9}}}]},'
                    ' {"c": {"$not": {"$in": [1, "x", null]}}}, {"d": {"$type": ["string"]}}]}')
    # at and just over the limits (filter.h): depth, list length
    nested = '{"a": 1}'
    for _ in range(33):
        nested = '{"$and": [' + nested + ']}'
    write("filter", nested)
    write("filter", '{"a": {"$in": [' + ", ".join(str(i) for i in range(1001)) + ']}}')
    write("filter", '{"a": {"$regex": "' + "(a|aa)*" * 40 + 'b"}}')
    return n


# ---- graphql: query \0 variables \0 operationName -----------------------------
def gen_graphql():
    clear("graphql")
    base = os.path.join(ROOT, "tests", "graphql", "corpus")
    n = 0
    for sub in sorted(os.listdir(base)):
        d = os.path.join(base, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".graphql"):
                continue
            data = open(os.path.join(d, name), "rb").read()
            # NAME.json beside a document gives its variables / operationName
            side = os.path.join(d, name[:-len(".graphql")] + ".json")
            if os.path.exists(side):
                req = json.load(open(side))
                data += b"\0" + json.dumps(req.get("variables") or {}).encode()
                if req.get("operationName"):
                    data += b"\0" + req["operationName"].encode()
            write("graphql", data)
            n += 1
    write("graphql", b'query Q($id: String!) { getAssetById(assetId: $id) { assetId profiles '
                     b'{ assetType assetTags } } }\0{"id": "a1"}\0Q')
    write("graphql", b'{ searchAssets(filters: { "profiles.asset_sub_type": "llm" }) '
                     b'{ assetId apis { assetApiRoute } } }')
    write("graphql", b'{ __schema { types { name kind fields { name type { name ofType '
                     b'{ name } } } } } }')
    write("graphql", b'query { a: getAssetsByType(assetType: "model") { ...F } } '
                     b'fragment F on Asset { assetId assetVersion __typename }')
    # at and just over the limits (graphql.h): tokens, depth, aliases, value depth
    many = " ".join(f"f{i}: assetId" for i in range(101))
    write("graphql", "{ getAssetById(assetId: \"a1\") { " + many + " } }")
    deep = "{ getAssetById(assetId: \"a1\") " + "{ profiles " * 15 + "{ assetType" + " }" * 17
    write("graphql", deep)
    frag = ("query { getAssetsByType(assetType: \"model\") { ...A } } " +
            " ".join(f"fragment {c} on Asset {{ assetId ...{d} }}" for c, d in zip("ABCDEFGH", "BCDEFGHI"))
            + " fragment I on Asset { assetId }")
    write("graphql", frag)
    write("graphql", "{ searchAssets(filters: " + "[" * 33 + "1" + "]" * 33 + ") { assetId } }")
    write("graphql", "{ __typename " + "__typename " * 10000 + "}")
    write("graphql", '{ getAssetById(assetId: """' + "x\\\"" * 2000 + '""") { assetId } }')
    write("graphql", b'query($f: JSON) { searchAssets(filters: $f) { assetId } }\0'
                     b'{"f": {"$or": [{"asset_id": "a1"}, {"profiles.asset_tags": {"$in": ["small"]}}]}}')
    return n


# ---- router: method selector byte + path -------------------------------------
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", ""]


def gen_router():
    clear("router")
    src = open(os.path.join(ROOT, "src", "api", "routes.c")).read()
    routes = re.findall(r'\{"([A-Z]+)", "([^"]+)"', src)
    fill = ["asset-001", "caf%C3%A9", "a%2Fb", "%ff", "x+y", "%", "%0", "%00"]
    n = 0
    for i, (method, pattern) in enumerate(routes):
        path = pattern.replace("{*}", "api/v1/generate").replace("{}", fill[i % len(fill)])
        sel = METHODS.index(method)
        write("router", bytes([sel]) + path.encode())
        write("router", bytes([sel | 0x80]) + path.encode())
        n += 2
    for p in ["/", "", "//assets", "/assets/", "/assets/a/b", "/query/by-api-route/",
              "/query/by-api-route/%2F%2F", "/files/u/%E2%82%AC.bin", "/assets/%ED%A0%80",
              "/assets/%F4%90%80%80", "/assets/%C0%AF", "/zip/status/" + "x" * 300]:
        write("router", bytes([0]) + p.encode())
    write("router", bytes([3]) + b"/healthz")  # wrong method: 405 with Allow
    return n


# ---- multipart: Content-Type line + body --------------------------------------
def gen_multipart():
    clear("multipart")
    b = "------------------------d74496d66958873e"
    ct = "multipart/form-data; boundary=" + b
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"asset_bundle.zip\""
            f"\r\nContent-Type: application/zip\r\n\r\nPK\x03\x04zipdata\r\n--{b}--\r\n")
    write("multipart", ct + "\n" + body)
    two = (f"--{b}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
           f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.zip\"\r\n\r\n"
           f"\r\n--{b}x\r\n--{b}--")
    write("multipart", ct + "\n" + two)
    write("multipart", 'multipart/form-data; charset=utf-8; boundary="quoted b"\n'
          'preamble\r\n--quoted b\r\ncontent-disposition: form-data; name=f; filename="a;b.zip"'
          '\r\n\r\ndata\r\n--quoted b--\r\nepilogue')
    # data across the parser's 64 KiB window, with near-delimiters at its edge
    big = ("a" * 65530 + "\r\n--" + b[:-3] + "\r\n-" + "b" * 70000)
    write("multipart", ct + "\n" + f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; "
          f"filename=\"big.zip\"\r\n\r\n{big}\r\n--{b}--\r\n")
    write("multipart", "multipart/form-data; boundary=x\n--x\r\n" + "H: " + "v" * 8200 +
          "\r\n\r\ndata\r\n--x--")
    write("multipart", "multipart/form-data; boundary=x\n" + "--x\r\nContent-Disposition: "
          "form-data; name=\"p\"\r\n\r\n\r\n" * 65 + "--x--")
    write("multipart", "multipart/form-data; boundary=x\n--x\r\n\r\n\r\n--x--\r\n")
    write("multipart", "multipart/form-data; boundary=x\n--x\r\nno-colon-header\r\n\r\n")
    write("multipart", "multipart/form-data; boundary=x\n--x--")
    write("multipart", "multipart/form-data; boundary=x\n")
    write("multipart", "text/plain\n--x\r\n")


# ---- archive entry names --------------------------------------------------------
def gen_archive_rules():
    clear("archive_rules")
    for name in ["asset.json", "weights/model.bin", "a b/c d.txt", "caf\u00e9/\u20ac.bin",
                 "../etc/passwd", "a/../b", "/abs", "C:/win", "a\\b", "a//b", "./a", "a/.",
                 "a/", "x" * 300, ("d/" * 500) + "f", "tab\there", "\x7f", "~user/-_.~",
                 "%2e%2e/x", "a?b#c&d=e+f"]:
        write("archive_rules", name)
    write("archive_rules", b"bad\xff\xfeutf8")
    write("archive_rules", b"\xed\xa0\x80surrogate")


# ---- ZIP bodies as the upload's scanner of local headers sees them ------------
def gen_zipscan():
    import io
    import zipfile
    clear("zipscan")

    def z(entries, comp=zipfile.ZIP_STORED, force64=False):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", comp) as f:
            for name, data in entries:
                zi = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
                zi.compress_type = comp
                with f.open(zi, "w", force_zip64=force64) as w:
                    w.write(data)
        return buf.getvalue()

    small = [("asset.json", b"{}"), ("a.bin", b"x" * 300), ("b/c.txt", b"hello" * 20)]
    for chunk in (0, 1, 7, 30, 31):
        write("zipscan", bytes([chunk]) + z(small))
    write("zipscan", bytes([5]) + z(small, zipfile.ZIP_DEFLATED))
    write("zipscan", bytes([3]) + z(small, force64=True))
    write("zipscan", bytes([0]) + b"MZ stub" + z(small))
    # a data descriptor (bit 3): the scan stops at that entry
    body = bytearray(z(small))
    body[6] |= 8
    write("zipscan", bytes([9]) + bytes(body))


def main():
    gen_json()
    nf = gen_filter()
    ng = gen_graphql()
    gen_router()
    gen_multipart()
    gen_archive_rules()
    gen_zipscan()
    for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print(t, len(os.listdir(os.path.join(HERE, "corpus", t))), file=sys.stderr)
    print(f"(filters from test_filter.c: {nf}, GraphQL documents: {ng})", file=sys.stderr)


if __name__ == "__main__":
    main()
