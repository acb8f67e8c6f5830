/*
 * model.h — the asset document of the seed's schema (Asset, AssetProfile,
 * AssetPolicy, AssetFile, AssetAPI, IndexMapping) and its validation.
 *
 * Assets are kept as JSON documents (jansson). Validation checks every field
 * of every embedded object against the schema table in model.c and names the
 * path of the first problem: "profiles[0].asset_type: required",
 * "asset_file_ids[2]: must be a string", "foo: unknown field".
 *
 * Normalization turns a valid document into its canonical stored form:
 * fields in schema order, every optional field present (null, or [] for
 * lists with a default), so every reader sees the same shape.
 */
#ifndef ASSETD_CORE_MODEL_H
#define ASSETD_CORE_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define AD_ASSET_ID_MAX 256 /* bytes */

/* asset_id rule: a non-empty string of at most AD_ASSET_ID_MAX bytes with no
 * control characters (< 0x20, 0x7f) and no '/'. Returns AD_OK or
 * AD_E_INVALID with a message starting "asset_id: ". */
ad_code ad_asset_id_check(const char *id, size_t len, ad_error *err);

/* Validates a complete asset document (create, and the merged result of an
 * update). Returns AD_OK or AD_E_INVALID with a path-naming message. */
ad_code ad_asset_validate(const json_t *asset, ad_error *err);

/* Validates an update body before merging: a JSON object whose keys are all
 * top-level Asset fields (unknown → "x: unknown field") and, when it has
 * asset_id, equal to path_id ("asset_id: must match the asset_id in the
 * path"). Field values are checked when the merged document is validated. */
ad_code ad_asset_validate_patch(const json_t *patch, const char *path_id, ad_error *err);

/* Returns a new reference to the canonical form of a valid asset: schema
 * field order, optional fields filled in (null; [] for lists with a default),
 * recursively for embedded objects. Keys inside free-form dictionaries
 * (asset_metadata, …) are kept as given. Returns NULL on allocation failure. */
json_t *ad_asset_normalize(const json_t *asset);

/* Top-level Asset field names in schema order, NULL-terminated. */
extern const char *const ad_asset_fields[];

/*
 * The schema table itself, for modules that walk a document by type (the
 * filter's dotted paths, the GraphQL layer's object types and camelCase
 * names). Start at ad_schema_asset; embedded lists point at their element
 * type through `embed`.
 */
typedef enum ad_field_kind {
    AD_FK_STRING,    /* JSON string */
    AD_FK_INTEGER,   /* JSON integer: not a real (1.0, 1.5), not a boolean */
    AD_FK_OBJECT,    /* free-form dictionary, Dict[str, Any] */
    AD_FK_STR_LIST,  /* array of strings, List[str] */
    AD_FK_OBJ_LIST,  /* array of free-form dictionaries, List[Dict[str, Any]] */
    AD_FK_EMBED_LIST /* array of typed objects of schema `embed` */
} ad_field_kind;

typedef enum ad_presence {
    AD_REQUIRED,     /* no default: present and not null */
    AD_OPTIONAL,     /* Optional[T] = None: may be absent or null; normalized to null */
    AD_DEFAULTED,    /* List[T] = field(default_factory=list): may be absent, not null;
                        normalized to [] */
    AD_OPT_DEFAULTED /* Optional[List[T]] = field(default_factory=list): may be absent
                        or null; absent is normalized to [] */
} ad_presence;

typedef struct ad_schema ad_schema;

typedef struct ad_field {
    const char *name;
    ad_field_kind kind;
    ad_presence presence;
    const ad_schema *embed; /* AD_FK_EMBED_LIST: the element type; else NULL */
    /* Extra rule for a string value (asset_id), or NULL. */
    ad_code (*check)(const char *s, size_t len, ad_error *err);
} ad_field;

struct ad_schema {
    const char *name;       /* the seed's class name: "Asset", "AssetProfile", ... */
    const ad_field *fields; /* in the seed's order */
    size_t nfields;
};

/* The root type, Asset. */
extern const ad_schema ad_schema_asset;

/* The field `name` of schema s, or NULL when s has no such field. */
const ad_field *ad_schema_field(const ad_schema *s, const char *name);

/* True when dotted (e.g. "profiles.asset_type") names a field the schema
 * types as a string or a list of strings, reached from the root through
 * embedded objects only (no free-form dictionaries, no numeric parts). In a
 * valid document every value at such a path is a string, possibly inside
 * one list, which lets a store answer equality on it exactly from an
 * index. */
bool ad_schema_string_path(const char *dotted);

/* True when dotted names a field of the schema of any type, reached the
 * same way. Every such field is present in a normalized document. */
bool ad_schema_field_path(const char *dotted);

/* Writes the camelCase form of a snake_case name to out (asset_id → assetId,
 * index_mappings → indexMappings): an underscore between two other
 * characters is dropped and the character after it upper-cased (ASCII
 * letters); leading, trailing and doubled underscores are kept. Returns out,
 * or NULL when outsz is too small (out then holds a truncated, terminated
 * prefix) or an argument is NULL. */
const char *ad_field_camel(const char *snake, char *out, size_t outsz);

#endif
