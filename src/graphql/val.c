/*
 * val.c — the values resolvers hand to the executor (see execute.h):
 * constructors, release, and the iterator over a static array of schema
 * elements that introspection lists use.
 */
#include <stdlib.h>
#include <string.h>

#include "graphql/execute.h"

void gql_val_clear(gql_val *v)
{
    json_decref(v->json);
    if (v->iter) v->iter->free(v->iter);
    if (v->obj) v->obj_free(v->obj);
    memset(v, 0, sizeof(*v));
}

ad_code gql_val_json(gql_val *v, json_t *j, ad_error *err)
{
    memset(v, 0, sizeof(*v));
    if (!j) return ad_fail(err, AD_E_NOMEM, "out of memory");
    v->kind = json_is_null(j) ? GQL_VAL_NULL : GQL_VAL_JSON;
    if (v->kind == GQL_VAL_NULL)
        json_decref(j);
    else
        v->json = j;
    return AD_OK;
}

void gql_val_ptr(gql_val *v, const void *p)
{
    memset(v, 0, sizeof(*v));
    v->kind = p ? GQL_VAL_PTR : GQL_VAL_NULL;
    v->ptr = p;
}

void gql_val_obj(gql_val *v, void *obj, void (*obj_free)(void *obj))
{
    memset(v, 0, sizeof(*v));
    v->kind = GQL_VAL_OBJ;
    v->obj = obj;
    v->obj_free = obj_free;
}

typedef struct array_iter {
    gql_iter it;
    const char *base;
    size_t n, i, stride;
    const void *(*map)(const void *elem);
} array_iter;

static ad_code array_next(gql_iter *it, gql_val *out, bool *end, ad_error *err)
{
    array_iter *a = (array_iter *)it;
    const void *elem;
    (void)err;
    *end = a->i >= a->n;
    if (*end) {
        gql_val_ptr(out, NULL);
        return AD_OK;
    }
    elem = a->base + a->i++ * a->stride;
    gql_val_ptr(out, a->map ? a->map(elem) : elem);
    return AD_OK;
}

static void array_free(gql_iter *it)
{
    free(it);
}

ad_code gql_val_array(gql_val *v, const void *base, size_t n, size_t stride,
                      const void *(*map)(const void *elem), ad_error *err)
{
    array_iter *a = calloc(1, sizeof(*a));
    memset(v, 0, sizeof(*v));
    if (!a) return ad_fail(err, AD_E_NOMEM, "out of memory");
    a->it.next = array_next;
    a->it.free = array_free;
    a->base = base;
    a->n = n;
    a->stride = stride;
    a->map = map;
    v->kind = GQL_VAL_LIST;
    v->iter = &a->it;
    return AD_OK;
}

void gql_val_raw(gql_val *v, const char *raw, size_t len)
{
    memset(v, 0, sizeof(*v));
    v->kind = GQL_VAL_RAW;
    v->raw = raw;
    v->raw_len = len;
}
