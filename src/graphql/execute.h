/*
 * execute.h — executing a validated operation (specification, section
 * 6): collecting fields, resolving them, completing values into the
 * response's "data", with field errors and null propagation.
 *
 * Resolvers (introspect.c, schema_assets.c) hand their results back as a
 * gql_val (val.c): null, a JSON value, a pointer to a schema element
 * (introspection), an owned object (an asset document), the raw JSON text
 * of a stored field, or a list produced by an iterator, which lets a list
 * of assets stream from a store cursor one document at a time. The
 * response's data is written as JSON text as values complete.
 */
#ifndef ASSETD_GRAPHQL_EXECUTE_H
#define ASSETD_GRAPHQL_EXECUTE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/registry.h"
#include "graphql/ast.h"
#include "graphql/errors.h"
#include "graphql/graphql.h"
#include "graphql/schema.h"
#include "util/buf.h"

typedef enum gql_val_kind {
    GQL_VAL_NULL,
    GQL_VAL_JSON, /* json: owned reference */
    GQL_VAL_PTR,  /* ptr: a schema element, or the root (NULL) */
    GQL_VAL_LIST, /* iter: owned */
    GQL_VAL_OBJ,  /* obj: owned, released with obj_free (an asset document) */
    GQL_VAL_RAW,  /* raw/raw_len: JSON text borrowed from the parent object, which
                     lives while the value is completed (a stored field) */
} gql_val_kind;

typedef struct gql_iter gql_iter;

struct gql_iter {
    /* The next item into *out; *end true (and *out null) after the last.
     * An error ends the list with err set. Mandatory. */
    ad_code (*next)(gql_iter *it, gql_val *out, bool *end, ad_error *err);
    /* Releases the iterator. Mandatory. */
    void (*free)(gql_iter *it);
};

struct gql_val {
    gql_val_kind kind;
    json_t *json;
    const void *ptr;
    gql_iter *iter;
    void *obj;
    void (*obj_free)(void *obj);
    const char *raw;
    size_t raw_len;
};

/* Releases what v owns and makes it null. */
void gql_val_clear(gql_val *v);
/* v = JSON value j (the reference is taken); AD_E_NOMEM when j is NULL. */
ad_code gql_val_json(gql_val *v, json_t *j, ad_error *err);
/* v = pointer p, or null when p is NULL. */
void gql_val_ptr(gql_val *v, const void *p);
/* v = object obj, which v owns and releases with obj_free. */
void gql_val_obj(gql_val *v, void *obj, void (*obj_free)(void *obj));
/* v = the JSON text raw[0..len), borrowed (see GQL_VAL_RAW). Trusted to
 * be valid JSON, as the stored documents REST sends unchanged are. */
void gql_val_raw(gql_val *v, const char *raw, size_t len);
/* v = the list of n schema elements at base: element i is at
 * base + i * stride; map (if not NULL) turns an element's address into the
 * pointer the item holds. */
ad_code gql_val_array(gql_val *v, const void *base, size_t n, size_t stride,
                      const void *(*map)(const void *elem), ad_error *err);

/* What resolvers can reach. */
ad_registry *gql_exec_registry(gql_exec *ex);
const gql_schema *gql_exec_schema(gql_exec *ex);
bool gql_exec_sees_secrets(gql_exec *ex); /* gql_request.see_secrets */

/*
 * Executes operation op of doc (valid, with variables vars already
 * coerced). Field errors go to errs; the "data" object is written to data
 * as JSON text ("null" when a non-null root field failed). Returns AD_OK,
 * or AD_E_NOMEM.
 */
ad_code gql_execute(const gql_schema *s, ad_registry *reg, const gql_document *doc,
                    const gql_definition *op, const json_t *vars, const gql_limits *lim,
                    bool see_secrets, gql_errors *errs, ad_buf *data);

#endif
