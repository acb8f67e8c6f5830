/*
 * meta_pg.h — private to the PostgreSQL meta store adapter (meta_pg.c and
 * meta_pg_sql.c); the core never includes it.
 *
 * meta_pg_sql.c turns an ad_query (filter tree, order, skip, limit) into
 * one SELECT over the adapter's tables with every value passed as a
 * parameter; meta_pg.c runs it.
 */
#ifndef ASSETD_STORE_META_PG_H
#define ASSETD_STORE_META_PG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/meta.h"
#include "util/buf.h"

/* The value table asset_values (meta_pg.c creates it, meta_pg_sql.c
 * narrows with it): every number under a dotted path of at most
 * PG_VALUES_PATH_MAX bytes, and the strings of at most PG_VALUES_STR_MAX
 * bytes under the fixed-query paths. The two lists name the same paths. */
#define PG_VALUES_PATH_MAX 512
#define PG_VALUES_STR_MAX  256
#define PG_VALUES_STR_PATHS                                                                        \
    "profiles.asset_type", "profiles.asset_sub_type", "profiles.asset_tags", "apis.asset_api_route"
#define PG_VALUES_STR_PATHS_SQL                                                                    \
    "'profiles.asset_type', 'profiles.asset_sub_type', 'profiles.asset_tags', "                    \
    "'apis.asset_api_route'"

/* The rows of asset_values for doc as the JSON text the trigger reads from
 * the setting assetd.values (meta_pg_values.c); "" when the trigger should
 * walk the document itself; NULL when out of memory. Caller frees. */
char *pg_values_json(const json_t *doc);

/* A statement under construction: SQL text with $1..$n placeholders and
 * the n parameter values, all in text format, NUL-terminated, owned. */
typedef struct pg_sql {
    ad_buf sql;
    char **vals;
    size_t n, cap;
    ad_code rc;                     /* first failure while building (AD_E_NOMEM, AD_E_TOO_LARGE) */
    unsigned alias;                 /* counter for the aliases of nested subqueries */
    int dry;                        /* > 0: only work out exactness, emit nothing */
    int neg;                        /* > 0: inside a negation (no asset_values narrowing) */
    int narrowed;                   /* asset_values subqueries and joins emitted */
    const struct ad_filter *driver; /* the equality joined with asset_values */
    const struct ad_filter *cover[3]; /* predicates narrowed once for the statement */
    size_t ncover;
    bool one_shot; /* plan with the values each time (not a prepared statement) */
} pg_sql;

void pg_sql_init(pg_sql *q);
void pg_sql_free(pg_sql *q);

/*
 * Builds "SELECT a.body FROM assets a WHERE … ORDER BY …" for qr. *exact is
 * set when the WHERE clause selects exactly the documents that match
 * qr->filter; skip and limit are then in the SQL too. Otherwise the WHERE
 * clause selects a superset and the caller checks every row with
 * ad_filter_match() and applies skip and limit itself.
 * AD_E_BAD_REQUEST for a sort path that is not a field path.
 */
ad_code pg_sql_find(pg_sql *q, const ad_query *qr, bool *exact, ad_error *err);

#endif
