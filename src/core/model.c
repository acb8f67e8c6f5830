/*
 * model.c — the asset document: the schema table of the seed's six types
 * (Asset, AssetProfile, AssetPolicy, AssetFile, AssetAPI, IndexMapping),
 * validation that names the path of the first problem, and normalization
 * into the canonical stored shape.
 *
 * Everything is driven by the tables below: one ad_field per dataclass field,
 * in the seed's order, with its JSON kind and its presence rule (required,
 * Optional = None, list with a default, Optional list with a default). To
 * change the model, change a table; the walkers never name a field, except
 * that ad_asset_fields[] repeats the top-level names for callers that want a
 * plain list (a unit test keeps the two in step).
 */
#include "core/model.h"

#include <stdio.h>

#include "core/source.h"
#include <string.h>

/* Longest path prefix we build ("index_mappings[123]."). Paths are short;
 * snprintf truncates safely if one ever is not. */
#define PATH_MAX_LEN 128

/* Longest unknown key quoted in a message, so the ": unknown field" suffix
 * survives a hostile key. */
#define KEY_QUOTE_MAX 200

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- The schema table ---------------------------------------------------- */

#define REQ(n, k)                                                                                  \
    {                                                                                              \
        n, k, AD_REQUIRED, NULL, NULL                                                              \
    }
#define OPT(n, k)                                                                                  \
    {                                                                                              \
        n, k, AD_OPTIONAL, NULL, NULL                                                              \
    }
#define DEF(n, k)                                                                                  \
    {                                                                                              \
        n, k, AD_DEFAULTED, NULL, NULL                                                             \
    }
#define OPT_DEF(n, k)                                                                              \
    {                                                                                              \
        n, k, AD_OPT_DEFAULTED, NULL, NULL                                                         \
    }
#define EMBED(n, s)                                                                                \
    {                                                                                              \
        n, AD_FK_EMBED_LIST, AD_DEFAULTED, &s, NULL                                                \
    }

static const ad_field profile_fields[] = {
    REQ("asset_profile_id", AD_FK_STRING),
    REQ("asset_type", AD_FK_STRING),
    REQ("asset_sub_type", AD_FK_STRING),
    REQ("asset_id", AD_FK_STRING),
    OPT("asset_metadata", AD_FK_OBJECT),
    OPT("asset_creator_info", AD_FK_OBJECT),
    OPT_DEF("asset_tags", AD_FK_STR_LIST),
    OPT("asset_description", AD_FK_STRING),
    OPT("asset_complete_docs_url", AD_FK_STRING),
    OPT("asset_man_page_url", AD_FK_STRING),
    OPT("asset_sample_input_json", AD_FK_OBJECT),
    OPT("asset_sample_output_json", AD_FK_OBJECT),
    OPT("asset_sample_input_data_url", AD_FK_STRING),
    OPT("asset_sample_output_data_url", AD_FK_STRING),
    OPT("asset_author_metadata", AD_FK_OBJECT),
};

static const ad_field policy_fields[] = {
    REQ("asset_policy_id", AD_FK_STRING),          REQ("asset_id", AD_FK_STRING),
    REQ("asset_policy_type", AD_FK_STRING),        OPT("asset_policy_rule_uri", AD_FK_STRING),
    OPT("asset_policy_rule_config", AD_FK_OBJECT), OPT("asset_policy_rule_params", AD_FK_OBJECT),
};

static const ad_field file_fields[] = {
    REQ("asset_file_id", AD_FK_STRING),        REQ("asset_file_type", AD_FK_STRING),
    REQ("asset_file_mime_type", AD_FK_STRING), REQ("asset_file_url", AD_FK_STRING),
    OPT("asset_file_metadata", AD_FK_OBJECT),
};

static const ad_field api_fields[] = {
    REQ("asset_api_id", AD_FK_STRING),
    REQ("asset_id", AD_FK_STRING),
    OPT("asset_api_metadata", AD_FK_OBJECT),
    OPT("asset_api_svc", AD_FK_STRING),
    OPT("asset_api_route", AD_FK_STRING),
    OPT("asset_api_protocol", AD_FK_STRING),
    OPT("asset_protocol_specific_config", AD_FK_OBJECT),
    OPT("asset_api_man_page", AD_FK_STRING),
    OPT("asset_api_swagger_doc", AD_FK_STRING),
    OPT_DEF("asset_api_usage_samples", AD_FK_OBJ_LIST),
};

static const ad_field index_mapping_fields[] = {
    REQ("json_doc_id", AD_FK_STRING),     REQ("mapping_field_index", AD_FK_INTEGER),
    REQ("table_name", AD_FK_STRING),      REQ("field_name", AD_FK_STRING),
    REQ("render_page_no", AD_FK_INTEGER), REQ("render_order_no", AD_FK_INTEGER),
};

static const ad_schema profile_schema = {"AssetProfile", profile_fields, NFIELDS(profile_fields)};
static const ad_schema policy_schema = {"AssetPolicy", policy_fields, NFIELDS(policy_fields)};
static const ad_schema file_schema = {"AssetFile", file_fields, NFIELDS(file_fields)};
static const ad_schema api_schema = {"AssetAPI", api_fields, NFIELDS(api_fields)};
static const ad_schema index_mapping_schema = {"IndexMapping", index_mapping_fields,
                                               NFIELDS(index_mapping_fields)};

static const ad_field asset_table[] = {
    {"asset_id", AD_FK_STRING, AD_REQUIRED, NULL, ad_asset_id_check},
    REQ("asset_uri", AD_FK_STRING),
    REQ("asset_version", AD_FK_STRING),
    REQ("asset_profile_id", AD_FK_STRING),
    REQ("asset_file_ids", AD_FK_STR_LIST),
    OPT("asset_container_uri", AD_FK_STRING),
    DEF("asset_policy_ids", AD_FK_STR_LIST),
    OPT("asset_container_registry_creds_config", AD_FK_OBJECT),
    OPT("asset_workflow_id", AD_FK_STRING),
    DEF("asset_api_ids", AD_FK_STR_LIST),
    OPT("asset_brief_description", AD_FK_STRING),
    EMBED("profiles", profile_schema),
    EMBED("policies", policy_schema),
    EMBED("files", file_schema),
    EMBED("apis", api_schema),
    EMBED("index_mappings", index_mapping_schema),
};

const ad_schema ad_schema_asset = {"Asset", asset_table, NFIELDS(asset_table)};

const char *const ad_asset_fields[] = {
    "asset_id",
    "asset_uri",
    "asset_version",
    "asset_profile_id",
    "asset_file_ids",
    "asset_container_uri",
    "asset_policy_ids",
    "asset_container_registry_creds_config",
    "asset_workflow_id",
    "asset_api_ids",
    "asset_brief_description",
    "profiles",
    "policies",
    "files",
    "apis",
    "index_mappings",
    NULL,
};

/* What a value of each kind must be, as said in a message. */
static const char *const kind_words[] = {
    [AD_FK_STRING] = "must be a string",
    [AD_FK_INTEGER] = "must be an integer",
    [AD_FK_OBJECT] = "must be an object",
    [AD_FK_STR_LIST] = "must be a list of strings",
    [AD_FK_OBJ_LIST] = "must be a list of objects",
    [AD_FK_EMBED_LIST] = "must be a list of objects",
};

const ad_field *ad_schema_field(const ad_schema *s, const char *name)
{
    if (!s || !name) return NULL;
    for (size_t i = 0; i < s->nfields; i++) {
        if (strcmp(s->fields[i].name, name) == 0) return &s->fields[i];
    }
    return NULL;
}

/* ---- Names --------------------------------------------------------------- */

ad_code ad_asset_id_check(const char *id, size_t len, ad_error *err)
{
    if (!id || len == 0) return ad_fail(err, AD_E_INVALID, "asset_id: must not be empty");
    if (len > AD_ASSET_ID_MAX) {
        return ad_fail(err, AD_E_INVALID, "asset_id: longer than %d bytes", AD_ASSET_ID_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c == '/') return ad_fail(err, AD_E_INVALID, "asset_id: must not contain '/'");
        if (c < 0x20 || c == 0x7f) {
            return ad_fail(err, AD_E_INVALID, "asset_id: must not contain control characters");
        }
    }
    return AD_OK;
}

const char *ad_field_camel(const char *snake, char *out, size_t outsz)
{
    size_t n = 0;
    if (!snake || !out || outsz == 0) return NULL;
    for (const char *p = snake; *p; p++) {
        char c = *p;
        bool inner = p > snake && p[-1] != '_' && p[1] != '\0' && p[1] != '_';
        if (c == '_' && inner) {
            c = *++p;
            if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        }
        if (n + 1 >= outsz) {
            out[n] = '\0';
            return NULL;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
}

/* ---- Validation ---------------------------------------------------------- */

static ad_code validate_object(const ad_schema *s, const json_t *obj, const char *prefix,
                               ad_error *err);

static ad_code fail_kind(ad_error *err, const char *prefix, const ad_field *f)
{
    return ad_fail(err, AD_E_INVALID, "%s%s: %s", prefix, f->name, kind_words[f->kind]);
}

static bool kind_matches(ad_field_kind kind, const json_t *v)
{
    switch (kind) {
    case AD_FK_STRING:
        return json_is_string(v);
    case AD_FK_INTEGER:
        return json_is_integer(v);
    case AD_FK_OBJECT:
        return json_is_object(v);
    case AD_FK_STR_LIST:
    case AD_FK_OBJ_LIST:
    case AD_FK_EMBED_LIST:
        return json_is_array(v);
    }
    return false;
}

/* One element of a list field: a string, a free-form object, or a typed
 * object validated against f->embed under the prefix "name[i].". */
static ad_code validate_element(const ad_field *f, const json_t *e, size_t i, const char *prefix,
                                ad_error *err)
{
    char sub[PATH_MAX_LEN];
    if (f->kind == AD_FK_STR_LIST) {
        if (json_is_string(e)) return AD_OK;
        return ad_fail(err, AD_E_INVALID, "%s%s[%zu]: must be a string", prefix, f->name, i);
    }
    if (!json_is_object(e)) {
        return ad_fail(err, AD_E_INVALID, "%s%s[%zu]: must be an object", prefix, f->name, i);
    }
    if (f->kind != AD_FK_EMBED_LIST) return AD_OK;
    snprintf(sub, sizeof(sub), "%s%s[%zu].", prefix, f->name, i);
    return validate_object(f->embed, e, sub, err);
}

/* A present, non-null value of field f. */
static ad_code validate_value(const ad_field *f, const json_t *v, const char *prefix, ad_error *err)
{
    if (!kind_matches(f->kind, v)) return fail_kind(err, prefix, f);
    for (size_t i = 0; i < json_array_size(v); i++) { /* size is 0 for a non-array */
        ad_code rc = validate_element(f, json_array_get(v, i), i, prefix, err);
        if (rc != AD_OK) return rc;
    }
    if (f->check && json_is_string(v)) {
        ad_code rc = f->check(json_string_value(v), json_string_length(v), err);
        if (rc != AD_OK) ad_error_prefix(err, prefix);
        return rc;
    }
    return AD_OK;
}

static ad_code validate_field(const ad_field *f, const json_t *obj, const char *prefix,
                              ad_error *err)
{
    const json_t *v = json_object_get(obj, f->name);
    if (!v) {
        if (f->presence != AD_REQUIRED) return AD_OK;
        return ad_fail(err, AD_E_INVALID, "%s%s: required", prefix, f->name);
    }
    if (json_is_null(v)) {
        bool nullable = f->presence == AD_OPTIONAL || f->presence == AD_OPT_DEFAULTED;
        return nullable ? AD_OK : fail_kind(err, prefix, f);
    }
    return validate_value(f, v, prefix, err);
}

/* How many bytes of key a message quotes: at most KEY_QUOTE_MAX, cut at a
 * UTF-8 character boundary so the message stays valid UTF-8 for a JSON reply. */
static int quoted_len(const char *key)
{
    size_t n = strlen(key);
    if (n <= KEY_QUOTE_MAX) return (int)n;
    n = KEY_QUOTE_MAX;
    while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80) n--;
    return (int)n;
}

/* The asset store's top-level fields beside the seed's schema (see
 * core/source.h): kept only when present, so a document without a source
 * keeps exactly the seed's shape. */
static const char *const store_fields[] = {"source", "generation", "status", "created_at"};

static bool store_field(const ad_schema *s, const char *key)
{
    if (s != &ad_schema_asset) return false;
    for (size_t i = 0; i < NFIELDS(store_fields); i++)
        if (strcmp(key, store_fields[i]) == 0) return true;
    return false;
}

/* The first key of obj (in document order) that is not a field of s, or NULL. */
static const char *first_unknown_key(const ad_schema *s, const json_t *obj)
{
    /* jansson's iterator takes a non-const object; it does not modify it. */
    json_t *o = (json_t *)obj;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        const char *key = json_object_iter_key(it);
        if (!ad_schema_field(s, key) && !store_field(s, key)) return key;
    }
    return NULL;
}

/* source (ad_source_check), generation (a positive integer), status (an
 * object) and created_at (a string), each when present and not null. */
static ad_code validate_store_fields(const json_t *asset, ad_error *err)
{
    const json_t *src = json_object_get(asset, "source");
    const json_t *gen = json_object_get(asset, "generation");
    const json_t *st = json_object_get(asset, "status");
    if (src && !json_is_null(src)) {
        ad_code rc = ad_source_check(src, err);
        if (rc) return rc;
    }
    if (gen && !json_is_null(gen) && (!json_is_integer(gen) || json_integer_value(gen) < 1))
        return ad_fail(err, AD_E_INVALID, "generation: must be a positive integer");
    if (st && !json_is_null(st) && !json_is_object(st))
        return ad_fail(err, AD_E_INVALID, "status: must be an object");
    if (json_object_get(asset, "created_at") &&
        !json_is_null(json_object_get(asset, "created_at")) &&
        !json_is_string(json_object_get(asset, "created_at")))
        return ad_fail(err, AD_E_INVALID, "created_at: must be a string");
    return AD_OK;
}

/* Unknown keys first, so a misspelt required field reads "asset_ID: unknown
 * field" rather than "asset_id: required"; then every field in schema order. */
static ad_code validate_object(const ad_schema *s, const json_t *obj, const char *prefix,
                               ad_error *err)
{
    const char *unknown = first_unknown_key(s, obj);
    if (unknown) {
        return ad_fail(err, AD_E_INVALID, "%s%.*s: unknown field", prefix, quoted_len(unknown),
                       unknown);
    }
    for (size_t i = 0; i < s->nfields; i++) {
        ad_code rc = validate_field(&s->fields[i], obj, prefix, err);
        if (rc != AD_OK) return rc;
    }
    return AD_OK;
}

ad_code ad_asset_validate(const json_t *asset, ad_error *err)
{
    ad_code rc;
    if (!json_is_object(asset)) return ad_fail(err, AD_E_INVALID, "asset must be a JSON object");
    rc = validate_object(&ad_schema_asset, asset, "", err);
    return rc ? rc : validate_store_fields(asset, err);
}

static ad_code check_patch_id(const json_t *v, const char *path_id, ad_error *err)
{
    if (!json_is_string(v)) return ad_fail(err, AD_E_INVALID, "asset_id: must be a string");
    size_t len = json_string_length(v);
    if (!path_id || strlen(path_id) != len || memcmp(json_string_value(v), path_id, len) != 0) {
        return ad_fail(err, AD_E_INVALID, "asset_id: must match the asset_id in the path");
    }
    return AD_OK;
}

ad_code ad_asset_validate_patch(const json_t *patch, const char *path_id, ad_error *err)
{
    const char *unknown;
    const json_t *id;

    if (!json_is_object(patch)) {
        return ad_fail(err, AD_E_INVALID, "update body must be a JSON object");
    }
    unknown = first_unknown_key(&ad_schema_asset, patch);
    if (unknown)
        return ad_fail(err, AD_E_INVALID, "%.*s: unknown field", quoted_len(unknown), unknown);
    id = json_object_get(patch, "asset_id");
    return id ? check_patch_id(id, path_id, err) : AD_OK;
}

/* ---- Normalization ------------------------------------------------------- */

static json_t *normalize_object(const ad_schema *s, const json_t *src);

/* The value an absent field takes: [] for lists with a default, else null. */
static json_t *absent_value(const ad_field *f)
{
    bool list_default = f->presence == AD_DEFAULTED || f->presence == AD_OPT_DEFAULTED;
    return list_default ? json_array() : json_null();
}

static json_t *normalize_list(const ad_schema *s, const json_t *src)
{
    json_t *out = json_array();
    if (!out) return NULL;
    for (size_t i = 0; i < json_array_size(src); i++) {
        const json_t *e = json_array_get(src, i);
        json_t *n = json_is_object(e) ? normalize_object(s, e) : json_deep_copy(e);
        if (json_array_append_new(out, n) != 0) { /* also rejects n == NULL */
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *normalize_value(const ad_field *f, const json_t *v)
{
    if (!v) return absent_value(f);
    if (f->kind == AD_FK_EMBED_LIST && json_is_array(v)) return normalize_list(f->embed, v);
    return json_deep_copy(v);
}

static json_t *normalize_object(const ad_schema *s, const json_t *src)
{
    json_t *out = json_object();
    if (!out) return NULL;
    for (size_t i = 0; i < s->nfields; i++) {
        const ad_field *f = &s->fields[i];
        json_t *v = normalize_value(f, json_object_get(src, f->name));
        if (json_object_set_new(out, f->name, v) != 0) { /* also rejects v == NULL */
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *ad_asset_normalize(const json_t *asset)
{
    json_t *out;
    if (!json_is_object(asset)) return NULL;
    out = normalize_object(&ad_schema_asset, asset);
    for (size_t i = 0; out && i < NFIELDS(store_fields); i++) {
        json_t *v = json_object_get(asset, store_fields[i]);
        if (!v || json_is_null(v)) continue;
        if (json_object_set_new(out, store_fields[i], json_deep_copy(v)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The schema field dotted leads to, through embedded lists only. */
static const ad_field *schema_path_field(const char *dotted)
{
    const ad_schema *s = &ad_schema_asset;
    char part[128];
    while (s) {
        size_t n = strcspn(dotted, ".");
        const ad_field *f;
        if (n == 0 || n >= sizeof(part)) return NULL;
        memcpy(part, dotted, n);
        part[n] = '\0';
        f = ad_schema_field(s, part);
        if (!f || !dotted[n]) return f;
        if (f->kind != AD_FK_EMBED_LIST) return NULL;
        s = f->embed;
        dotted += n + 1;
    }
    return NULL;
}

bool ad_schema_string_path(const char *dotted)
{
    const ad_field *f = schema_path_field(dotted);
    return f && (f->kind == AD_FK_STRING || f->kind == AD_FK_STR_LIST);
}

bool ad_schema_field_path(const char *dotted)
{
    return schema_path_field(dotted) != NULL;
}
