/*
 * schema_assets.c — the seed's GraphQL schema, bound to the registry:
 *
 *   type Query {
 *     getAssetById(assetId: String!): Asset
 *     getAssetsByType(assetType: String!, limit: Int, skip: Int): [Asset]
 *     getAssetsByTag(tag: String!, limit: Int, skip: Int): [Asset]
 *     getAssetsBySubType(subType: String!, limit: Int, skip: Int): [Asset]
 *     getAssetsByApiRoute(route: String!, limit: Int, skip: Int): [Asset]
 *     searchAssets(filters: GenericScalar, limit: Int, skip: Int): [Asset]
 *   }
 *
 * and type Asset, whose fields are not written here but derived from the
 * model's table (core/model.h) when the schema is built: each top-level
 * field in camelCase, typed by its kind (strings String, lists of strings
 * [String!], dictionaries and embedded lists GenericScalar) and non-null
 * when the model guarantees a value (required, or a list that defaults to
 * []). Only the descriptions are kept here, by field name; a unit test
 * checks every model field has one.
 *
 * The resolvers call the registry service: getAssetById → ad_registry_get;
 * the lists → ad_registry_fixed_filter / ad_filter_parse, then
 * ad_registry_find, streamed from the store's cursor one document at a
 * time; an Asset field picks the snake_case key out of the stored
 * document, which is indexed rather than parsed (asset_doc.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/filter.h"
#include "core/model.h"
#include "graphql/asset_doc.h"
#include "graphql/execute.h"
#include "graphql/schema.h"

#define COUNT(a)       (sizeof(a) / sizeof((a)[0]))
#define MAX_FIELDS     32 /* top-level Asset fields */
#define MAX_NAME       64 /* bytes of a camelCase field name */
#define SEARCH_ALL_TAG (-1)

/* ---- descriptions ------------------------------------------------------- */

static const struct {
    const char *field;
    const char *description;
} descriptions[] = {
    {"asset_id", "The asset's unique identifier (`asset_id`)."},
    {"asset_uri", "Where the asset lives, e.g. `models://example.com/asset-001` (`asset_uri`)."},
    {"asset_version", "The asset's version, e.g. `v1` (`asset_version`)."},
    {"asset_profile_id", "The id of the asset's main profile (`asset_profile_id`)."},
    {"asset_file_ids", "The ids of the asset's files (`asset_file_ids`)."},
    {"asset_container_uri", "The URI of the asset's container image, if any "
                            "(`asset_container_uri`)."},
    {"asset_policy_ids", "The ids of the policies that apply to the asset (`asset_policy_ids`)."},
    {"asset_container_registry_creds_config",
     "Credentials configuration of the container registry, a free-form dictionary "
     "(`asset_container_registry_creds_config`)."},
    {"asset_workflow_id", "The id of the workflow that produced the asset (`asset_workflow_id`)."},
    {"asset_api_ids", "The ids of the asset's APIs (`asset_api_ids`)."},
    {"asset_brief_description", "A short description of the asset (`asset_brief_description`)."},
    {"profiles", "The asset's profiles (AssetProfile objects: type, sub-type, tags, "
                 "metadata, ...), as stored, with snake_case keys."},
    {"policies", "The asset's policies (AssetPolicy objects), as stored, with snake_case keys."},
    {"files", "The asset's files (AssetFile objects: id, type, MIME type, URL), as stored, "
              "with snake_case keys."},
    {"apis", "The asset's APIs (AssetAPI objects: route, protocol, service, ...), as stored, "
             "with snake_case keys."},
    {"index_mappings", "The asset's index mappings (IndexMapping objects), as stored, with "
                       "snake_case keys."},
};

static const char *description_of(const char *field)
{
    for (size_t i = 0; i < COUNT(descriptions); i++)
        if (strcmp(descriptions[i].field, field) == 0) return descriptions[i].description;
    return "A field of the asset, as stored.";
}

/* ---- Asset -------------------------------------------------------------- */

static ad_code resolve_asset_field(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                   const json_t *args, gql_val *out, ad_error *err)
{
    const char *raw;
    size_t len;
    int found = asset_doc_raw(parent->obj, f->data, &raw, &len);
    (void)args;
    if (found < 0) return ad_fail(err, AD_E_BACKEND, "a stored asset is not a valid JSON object");
    if (found == 0 || (len == 4 && memcmp(raw, "null", 4) == 0))
        gql_val_ptr(out, NULL);
    else if (!gql_exec_sees_secrets(ex) && strcmp(f->data, AD_SECRET_FIELD) == 0)
        gql_val_raw(out, "\"" AD_REDACTED "\"", strlen(AD_REDACTED) + 2);
    else
        gql_val_raw(out, raw, len);
    return AD_OK;
}

static void doc_free(void *doc)
{
    asset_doc_free(doc);
}

/* out = the asset stored as json[0..len) (taken when own, else copied). */
static ad_code asset_value(char *json, size_t len, bool own, gql_val *out, ad_error *err)
{
    asset_doc *doc;
    ad_code rc = asset_doc_new(json, len, own, &doc, err);
    if (rc) return rc;
    gql_val_obj(out, doc, doc_free);
    return AD_OK;
}

static gql_field asset_fields[MAX_FIELDS];
static char asset_names[MAX_FIELDS][MAX_NAME];
static gql_tref asset_trefs[MAX_FIELDS][3]; /* named, list of, non-null of the outer */
static const gql_tref string_nn = {GQL_NON_NULL, &gql_type_string.ref, NULL};

gql_type gql_type_asset = {
    GQL_OBJECT,  "Asset", "A registered asset: its metadata document, field by field.",
    GQL_SC_NONE, NULL,    0,
    NULL,        0,       {GQL_OBJECT, NULL, &gql_type_asset},
};

/* The GraphQL type of a model field, built in refs. */
static const gql_tref *asset_field_type(const ad_field *mf, gql_tref refs[3])
{
    const gql_tref *t;
    bool non_null = mf->presence == AD_REQUIRED;
    switch (mf->kind) {
    case AD_FK_STRING:
        t = &gql_type_string.ref;
        break;
    case AD_FK_INTEGER:
        t = &gql_type_int.ref;
        break;
    case AD_FK_STR_LIST:
        refs[0] = (gql_tref){GQL_LIST, &string_nn, NULL};
        t = &refs[0];
        non_null = non_null || mf->presence == AD_DEFAULTED;
        break;
    default: /* dictionaries and embedded lists */
        t = &gql_type_any.ref;
        non_null = non_null || (mf->kind != AD_FK_OBJECT && mf->presence == AD_DEFAULTED);
        break;
    }
    if (!non_null) return t;
    refs[1] = (gql_tref){GQL_NON_NULL, t, NULL};
    return &refs[1];
}

void gql_assets_init(void)
{
    const ad_schema *s = &ad_schema_asset;
    size_t n = 0;
    for (size_t i = 0; i < s->nfields && n < MAX_FIELDS; i++) {
        const ad_field *mf = &s->fields[i];
        if (!ad_field_camel(mf->name, asset_names[n], MAX_NAME)) continue;
        asset_fields[n] = (gql_field){asset_names[n],
                                      description_of(mf->name),
                                      asset_field_type(mf, asset_trefs[n]),
                                      NULL,
                                      0,
                                      resolve_asset_field,
                                      mf->name,
                                      0};
        n++;
    }
    gql_type_asset.fields = asset_fields;
    gql_type_asset.nfields = n;
}

/* ---- list results: a store cursor as an iterator ------------------------ */

typedef struct cursor_iter {
    gql_iter it;
    ad_meta *meta;
    ad_meta_cursor *cur;
    ad_filter *filter;
} cursor_iter;

static ad_code cursor_next(gql_iter *it, gql_val *out, bool *end, ad_error *err)
{
    cursor_iter *c = (cursor_iter *)it;
    const char *json;
    size_t len;
    ad_code rc = c->meta->ops->cursor_next(c->cur, &json, &len, err);
    gql_val_ptr(out, NULL);
    *end = false;
    if (rc) return rc;
    if (!json) {
        *end = true;
        return AD_OK;
    }
    /* copied: the cursor's text lives only until its next call */
    return asset_value((char *)json, len, false, out, err);
}

static void cursor_free(gql_iter *it)
{
    cursor_iter *c = (cursor_iter *)it;
    if (c->cur) c->meta->ops->cursor_close(c->cur);
    ad_filter_free(c->filter);
    free(c);
}

/* A non-negative Int argument, or the default when absent or null. */
static ad_code count_arg(const json_t *args, const char *name, uint64_t def, uint64_t *out,
                         ad_error *err)
{
    const json_t *v = json_object_get(args, name);
    if (!v || json_is_null(v)) {
        *out = def;
        return AD_OK;
    }
    if (json_integer_value(v) < 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "%s must not be negative, got %lld", name,
                       (long long)json_integer_value(v));
    *out = (uint64_t)json_integer_value(v);
    return AD_OK;
}

/* Runs the query for filter f (taking ownership) with the limit and skip
 * arguments, and makes the cursor the field's list value. */
static ad_code find_list(gql_exec *ex, ad_filter *f, const json_t *args, gql_val *out,
                         ad_error *err)
{
    ad_registry *reg = gql_exec_registry(ex);
    ad_query q = {.filter = f};
    cursor_iter *c;
    ad_code rc = count_arg(args, "limit", UINT64_MAX, &q.limit, err);
    if (!rc) rc = count_arg(args, "skip", 0, &q.skip, err);
    c = rc ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        ad_filter_free(f);
        return rc ? rc : ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    c->it.next = cursor_next;
    c->it.free = cursor_free;
    c->meta = ad_registry_meta(reg);
    c->filter = f;
    rc = ad_registry_find(reg, &q, &c->cur, err);
    if (rc) {
        cursor_free(&c->it);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->kind = GQL_VAL_LIST;
    out->iter = &c->it;
    return AD_OK;
}

/* ---- Query -------------------------------------------------------------- */

static ad_code resolve_by_id(gql_exec *ex, const gql_val *parent, const gql_field *f,
                             const json_t *args, gql_val *out, ad_error *err)
{
    const json_t *id = json_object_get(args, "assetId");
    ad_doc d = {0};
    ad_code rc;
    (void)parent, (void)f;
    gql_val_ptr(out, NULL);
    /* an id with a NUL in it names no asset */
    if (strlen(json_string_value(id)) != json_string_length(id)) return AD_OK;
    rc = ad_registry_get(gql_exec_registry(ex), json_string_value(id), &d, err);
    if (rc == AD_E_NOT_FOUND) return AD_OK;
    if (rc) return rc;
    return asset_value(d.json, d.len, true, out, err); /* takes d.json */
}

static ad_code resolve_fixed(gql_exec *ex, const gql_val *parent, const gql_field *f,
                             const json_t *args, gql_val *out, ad_error *err)
{
    const json_t *value = json_object_get(args, f->args[0].name);
    ad_filter *filter;
    ad_code rc;
    (void)parent;
    gql_val_ptr(out, NULL);
    rc = ad_registry_fixed_filter((ad_fixed_query)f->tag, json_string_value(value), &filter, err);
    return rc ? rc : find_list(ex, filter, args, out, err);
}

static ad_code resolve_search(gql_exec *ex, const gql_val *parent, const gql_field *f,
                              const json_t *args, gql_val *out, ad_error *err)
{
    const json_t *filters = json_object_get(args, "filters");
    json_t *all = NULL;
    ad_filter *filter;
    ad_code rc;
    (void)parent, (void)f;
    gql_val_ptr(out, NULL);
    if (!filters || json_is_null(filters)) filters = all = json_object();
    if (!json_is_object(filters)) {
        json_decref(all);
        return ad_fail(err, AD_E_FILTER,
                       "filters must be an object, a MongoDB-style filter such as "
                       "{asset_version: \"v1\"}");
    }
    rc = ad_filter_parse(filters, &filter, err);
    json_decref(all);
    if (!rc && !gql_exec_sees_secrets(ex) && ad_filter_reads_secret(filter)) {
        ad_filter_free(filter);
        return ad_fail(err, AD_E_FORBIDDEN,
                       "filtering on " AD_SECRET_FIELD " needs the admin role");
    }
    return rc ? rc : find_list(ex, filter, args, out, err);
}

static const gql_tref asset_list = {GQL_LIST, &gql_type_asset.ref, NULL};

#define LIST_ARGS(first_name, first_type, first_desc)                                              \
    {                                                                                              \
        {first_name, first_desc, first_type, NULL},                                                \
            {"limit", "At most this many assets (default: all, up to the response size cap).",     \
             &gql_type_int.ref, NULL},                                                             \
        {                                                                                          \
            "skip", "Skip this many assets first (default 0).", &gql_type_int.ref, NULL            \
        }                                                                                          \
    }

static const gql_arg by_id_args[] = {{"assetId", "The asset's `asset_id`.", &string_nn, NULL}};
static const gql_arg by_type_args[] =
    LIST_ARGS("assetType", &string_nn, "An `asset_type` of one of the asset's profiles.");
static const gql_arg by_tag_args[] =
    LIST_ARGS("tag", &string_nn, "A tag in the `asset_tags` of one of the asset's profiles.");
static const gql_arg by_sub_type_args[] =
    LIST_ARGS("subType", &string_nn, "An `asset_sub_type` of one of the asset's profiles.");
static const gql_arg by_route_args[] = LIST_ARGS(
    "route", &string_nn,
    "An `asset_api_route` of one of the asset's APIs; `api/v1/x` and `/api/v1/x` are the same.");
static const gql_arg search_args[] = LIST_ARGS(
    "filters", &gql_type_any.ref,
    "A MongoDB-style filter, as in POST /query/search. Plain names match top-level fields "
    "(`{asset_version: \"v1\"}`); dotted paths and operators need quoted keys, an assetd "
    "extension (`{\"profiles.asset_sub_type\": \"llm\", \"asset_version\": {\"$in\": "
    "[\"v1\", \"v2\"]}}`), or a GenericScalar variable holding the filter. Absent or null: "
    "every asset.");

static const gql_field query_fields[] = {
    {"getAssetById", "The asset with this `asset_id`, or null when there is none.",
     &gql_type_asset.ref, by_id_args, COUNT(by_id_args), resolve_by_id, NULL, 0},
    {"getAssetsByType", "The assets with a profile of this `asset_type`, in creation order.",
     &asset_list, by_type_args, COUNT(by_type_args), resolve_fixed, NULL, AD_BY_TYPE},
    {"getAssetsByTag", "The assets with a profile carrying this tag, in creation order.",
     &asset_list, by_tag_args, COUNT(by_tag_args), resolve_fixed, NULL, AD_BY_TAG},
    {"getAssetsBySubType", "The assets with a profile of this `asset_sub_type`, in creation order.",
     &asset_list, by_sub_type_args, COUNT(by_sub_type_args), resolve_fixed, NULL, AD_BY_SUB_TYPE},
    {"getAssetsByApiRoute", "The assets with an API on this route, in creation order.", &asset_list,
     by_route_args, COUNT(by_route_args), resolve_fixed, NULL, AD_BY_API_ROUTE},
    {"searchAssets",
     "The assets matching a filter, in creation order: the filter language of POST "
     "/query/search, with its operators and limits.",
     &asset_list, search_args, COUNT(search_args), resolve_search, NULL, SEARCH_ALL_TAG},
};

const gql_type gql_type_query = {
    GQL_OBJECT,
    "Query",
    "The read-only entry points of the Assets Registry.",
    GQL_SC_NONE,
    query_fields,
    COUNT(query_fields),
    NULL,
    0,
    {GQL_OBJECT, NULL, &gql_type_query},
};
