/*
 * auth.h — who may do what: API tokens, roles and the one secret field.
 *
 * A token is "adt_" followed by 43 characters of base64url (32 random
 * bytes). Only its SHA-256 is kept, in the meta store's records (namespace
 * "tokens", keyed by the hex digest; a second namespace "token_names"
 * maps each name to its digest so names are unique and revocation goes by
 * name). Every request looks its token up in the store, so a revocation
 * made through any instance sharing the store holds at once everywhere.
 *
 * Roles are ordered: reader < writer < admin. A route or a GraphQL field
 * names the least role it needs (AD_ROLE_PUBLIC for the health probes).
 * Only admin sees asset_container_registry_creds_config; everyone else
 * gets "<redacted>" in its place, and may not filter or sort on it.
 */
#ifndef ASSETD_CORE_AUTH_H
#define ASSETD_CORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "store/meta.h"
#include "util/err.h"

typedef enum ad_role {
    AD_ROLE_PUBLIC = 0, /* a route anyone may call (health probes) */
    AD_ROLE_READER = 1,
    AD_ROLE_WRITER = 2,
    AD_ROLE_ADMIN = 3,
} ad_role;

#define AD_TOKEN_NAME_MAX 64
#define AD_TOKEN_LEN      47 /* "adt_" + 43 base64url characters */

/* "reader", "writer", "admin" ("public" for AD_ROLE_PUBLIC). */
const char *ad_role_name(ad_role r);
/* AD_OK with *out, or AD_E_BAD_REQUEST naming the roles. */
ad_code ad_role_parse(const char *s, ad_role *out, ad_error *err);

typedef struct ad_token_info {
    char name[AD_TOKEN_NAME_MAX + 1];
    ad_role role;
    int64_t created; /* seconds since the epoch */
} ad_token_info;

/* Makes a token for name (1..64 bytes of [A-Za-z0-9._-]) with role, stores
 * its hash, and writes the token itself into token (AD_TOKEN_LEN + 1
 * bytes) — the only time it exists in clear. AD_E_EXISTS if the name is
 * taken. */
ad_code ad_token_create(ad_meta *m, const char *name, ad_role role, char *token,
                        ad_token_info *info, ad_error *err);
/* Who holds token: AD_OK with *info, AD_E_UNAUTHORIZED if nobody does (or
 * it is malformed), AD_E_UNAVAILABLE if the store cannot be asked. */
ad_code ad_token_lookup(ad_meta *m, const char *token, ad_token_info *info, ad_error *err);
/* Revokes the token named name: AD_OK or AD_E_NOT_FOUND. */
ad_code ad_token_revoke(ad_meta *m, const char *name, ad_error *err);
/* Calls fn for each token in name order; non-zero stops. */
typedef int (*ad_token_fn)(void *ctx, const ad_token_info *info);
ad_code ad_token_list(ad_meta *m, ad_token_fn fn, void *ctx, ad_error *err);
/* Whether any token exists (*any). */
ad_code ad_token_any(ad_meta *m, bool *any, ad_error *err);

/* --- the secret field --- */

#define AD_SECRET_FIELD "asset_container_registry_creds_config"
#define AD_REDACTED     "<redacted>"

/* If the stored document text holds a non-null secret field, sets *out to a
 * malloc'd copy with its value replaced by "<redacted>" (same canonical
 * form otherwise) and returns true; else returns false and leaves *out
 * NULL (send the text as it is). A document that cannot be parsed is
 * redacted to be safe: *out becomes NULL and true is returned only if it
 * could be rewritten, so callers treat true+NULL as an error. */
bool ad_redact_doc(const char *json, size_t len, char **out, size_t *out_len);
/* The same on a parsed document, in place. */
void ad_redact_json(void *doc /* json_t * */);
/* Whether the filter reads the secret field anywhere (a path equal to it
 * or under it, at the top or inside $and/$or/$nor/$not). */
bool ad_filter_reads_secret(const ad_filter *f);
/* Whether a dotted path is the secret field or under it. */
bool ad_path_is_secret(const char *path);

#endif
