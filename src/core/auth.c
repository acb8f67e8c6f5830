/*
 * auth.c — API tokens kept as SHA-256 digests in the meta store's records,
 * roles, and redaction of the one secret field (see auth.h).
 *
 * Tokens carry 256 random bits from getrandom(2), so a plain (unsalted,
 * fast) SHA-256 is the right digest: there is nothing to guess that a slow
 * password hash would protect. Lookups go by digest, so the store never
 * compares a token in clear.
 */
#include "core/auth.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/json.h"

#define NS_TOKENS "tokens"
#define NS_NAMES  "token_names"
#define PREFIX    "adt_"

static const char *const role_names[] = {"public", "reader", "writer", "admin"};

const char *ad_role_name(ad_role r)
{
    return (unsigned)r < 4 ? role_names[r] : "?";
}

ad_code ad_role_parse(const char *s, ad_role *out, ad_error *err)
{
    int i;
    for (i = AD_ROLE_READER; s && i <= AD_ROLE_ADMIN; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (ad_role)i;
            return AD_OK;
        }
    }
    return ad_fail(err, AD_E_BAD_REQUEST, "role must be reader, writer or admin, not \"%.40s\"",
                   s ? s : "");
}

static ad_code name_check(const char *name, ad_error *err)
{
    size_t n = name ? strlen(name) : 0, i;
    if (n == 0 || n > AD_TOKEN_NAME_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "token name must be 1..%d characters",
                       AD_TOKEN_NAME_MAX);
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "token name may hold only letters, digits, '.', '_' and '-'");
    }
    return AD_OK;
}

/* hex SHA-256 of s (65 bytes with the NUL) */
static void digest_hex(const char *s, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (i = 0; i < n && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    hex[64] = '\0';
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits) out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static ad_code info_from_json(const char *json, size_t len, ad_token_info *info, ad_error *err)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    const char *name = j ? json_string_value(json_object_get(j, "name")) : NULL;
    const char *role = j ? json_string_value(json_object_get(j, "role")) : NULL;
    ad_code rc;
    memset(info, 0, sizeof(*info));
    if (!name || !role || strlen(name) > AD_TOKEN_NAME_MAX) {
        json_decref(j);
        return ad_fail(err, AD_E_BACKEND, "a stored token record is damaged");
    }
    snprintf(info->name, sizeof(info->name), "%s", name);
    rc = ad_role_parse(role, &info->role, err);
    info->created = (int64_t)json_integer_value(json_object_get(j, "created"));
    json_decref(j);
    return rc ? ad_fail(err, AD_E_BACKEND, "a stored token record has an unknown role") : AD_OK;
}

ad_code ad_token_create(ad_meta *m, const char *name, ad_role role, char *token,
                        ad_token_info *info, ad_error *err)
{
    unsigned char raw[32];
    size_t got = 0;
    char hex[65], *text;
    json_t *rec;
    int64_t rev;
    ad_code rc = name_check(name, err);
    if (rc) return rc;
    if (role < AD_ROLE_READER || role > AD_ROLE_ADMIN)
        return ad_fail(err, AD_E_BAD_REQUEST, "role must be reader, writer or admin");
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r <= 0) return ad_fail(err, AD_E_INTERNAL, "no randomness for a token");
        got += (size_t)r;
    }
    memcpy(token, PREFIX, strlen(PREFIX));
    base64url(raw, sizeof(raw), token + strlen(PREFIX));
    digest_hex(token, hex);

    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", name);
    info->role = role;
    info->created = (int64_t)time(NULL);
    rec = json_pack("{s:s, s:s, s:I}", "name", name, "role", ad_role_name(role), "created",
                    (json_int_t)info->created);
    text = rec ? ad_json_dump(rec, NULL) : NULL;
    json_decref(rec);
    if (!text) return ad_fail(err, AD_E_NOMEM, "out of memory");
    /* the name first: it is what makes a token unique to its holder */
    {
        char ref[80];
        snprintf(ref, sizeof(ref), "{\"sha256\":\"%s\"}", hex);
        rc = m->ops->rec_put(m, NS_NAMES, name, ref, strlen(ref), 0, &rev, err);
    }
    if (rc == AD_E_EXISTS) rc = ad_fail(err, AD_E_EXISTS, "a token named %s already exists", name);
    if (!rc) {
        rc = m->ops->rec_put(m, NS_TOKENS, hex, text, strlen(text), 0, &rev, err);
        if (rc) m->ops->rec_remove(m, NS_NAMES, name, AD_REV_ANY, NULL);
    }
    free(text);
    if (rc) memset(token, 0, AD_TOKEN_LEN + 1);
    return rc;
}

ad_code ad_token_lookup(ad_meta *m, const char *token, ad_token_info *info, ad_error *err)
{
    char hex[65];
    ad_doc d = {0};
    ad_code rc;
    if (!token || strlen(token) != AD_TOKEN_LEN || strncmp(token, PREFIX, strlen(PREFIX)) != 0)
        return ad_fail(err, AD_E_UNAUTHORIZED, "the bearer token is not an assetd token");
    digest_hex(token, hex);
    rc = m->ops->rec_get(m, NS_TOKENS, hex, &d, err);
    if (rc == AD_E_NOT_FOUND) return ad_fail(err, AD_E_UNAUTHORIZED, "unknown or revoked token");
    if (rc) return rc;
    rc = info_from_json(d.json, d.len, info, err);
    ad_doc_free(&d);
    return rc;
}

ad_code ad_token_revoke(ad_meta *m, const char *name, ad_error *err)
{
    ad_doc d = {0};
    json_t *j;
    const char *hex;
    ad_code rc = name_check(name, err);
    if (rc) return rc;
    rc = m->ops->rec_get(m, NS_NAMES, name, &d, err);
    if (rc == AD_E_NOT_FOUND) return ad_fail(err, AD_E_NOT_FOUND, "no token named %s", name);
    if (rc) return rc;
    j = json_loadb(d.json, d.len, 0, NULL);
    hex = json_string_value(json_object_get(j, "sha256"));
    /* the digest first, so the token stops working before its name is freed */
    rc = hex ? m->ops->rec_remove(m, NS_TOKENS, hex, AD_REV_ANY, err) : AD_OK;
    if (rc == AD_E_NOT_FOUND) rc = AD_OK;
    if (!rc) rc = m->ops->rec_remove(m, NS_NAMES, name, d.rev, err);
    json_decref(j);
    ad_doc_free(&d);
    return rc;
}

typedef struct list_ctx {
    ad_meta *m;
    ad_token_fn fn;
    void *ctx;
    ad_code rc;
    ad_error *err;
} list_ctx;

static int list_one(void *p, const char *name, const char *json, size_t len, int64_t rev)
{
    list_ctx *l = p;
    ad_doc d = {0};
    ad_token_info info;
    json_t *j = json_loadb(json, len, 0, NULL);
    const char *hex = json_string_value(json_object_get(j, "sha256"));
    ad_code rc;
    (void)rev;
    (void)name;
    /* a name whose token record is gone is a revocation cut short: skip it */
    rc = hex ? l->m->ops->rec_get(l->m, NS_TOKENS, hex, &d, l->err) : AD_E_NOT_FOUND;
    json_decref(j);
    if (rc == AD_E_NOT_FOUND) return 0;
    if (!rc) rc = info_from_json(d.json, d.len, &info, l->err);
    ad_doc_free(&d);
    if (rc) {
        l->rc = rc;
        return 1;
    }
    return l->fn(l->ctx, &info);
}

ad_code ad_token_list(ad_meta *m, ad_token_fn fn, void *ctx, ad_error *err)
{
    list_ctx l = {m, fn, ctx, AD_OK, err};
    ad_code rc = m->ops->rec_list(m, NS_NAMES, list_one, &l, err);
    return rc ? rc : l.rc;
}

static int stop_at_first(void *ctx, const char *key, const char *json, size_t len, int64_t rev)
{
    (void)key, (void)json, (void)len, (void)rev;
    *(bool *)ctx = true;
    return 1;
}

ad_code ad_token_any(ad_meta *m, bool *any, ad_error *err)
{
    *any = false;
    return m->ops->rec_list(m, NS_TOKENS, stop_at_first, any, err);
}

/* --- the secret field --- */

bool ad_path_is_secret(const char *path)
{
    size_t n = strlen(AD_SECRET_FIELD);
    return path && strncmp(path, AD_SECRET_FIELD, n) == 0 && (path[n] == '\0' || path[n] == '.');
}

bool ad_filter_reads_secret(const ad_filter *f)
{
    size_t i;
    if (!f) return false;
    if (f->path) return ad_path_is_secret(f->path); /* kids of $elemMatch are relative */
    for (i = 0; i < f->nkids; i++)
        if (ad_filter_reads_secret(f->kids[i])) return true;
    return false;
}

void ad_redact_json(void *doc)
{
    json_t *j = doc, *v = json_object_get(j, AD_SECRET_FIELD);
    if (v && !json_is_null(v)) json_object_set_new(j, AD_SECRET_FIELD, json_string(AD_REDACTED));
}

bool ad_redact_doc(const char *json, size_t len, char **out, size_t *out_len)
{
    json_t *j, *v;
    *out = NULL;
    *out_len = 0;
    /* fast path: most documents never mention the field */
    if (!memmem(json, len, "\"" AD_SECRET_FIELD "\"", strlen(AD_SECRET_FIELD) + 2)) return false;
    j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    if (!j) return true; /* cannot tell: the caller must not send it */
    v = json_object_get(j, AD_SECRET_FIELD);
    if (!v || json_is_null(v)) {
        json_decref(j);
        return false;
    }
    ad_redact_json(j);
    *out = ad_json_dump(j, out_len);
    json_decref(j);
    return true;
}
