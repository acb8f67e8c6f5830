/*
 * s3_conf.c — the S3 blob store's URL and credentials.
 *
 *   s3://[ACCESS:SECRET@]BUCKET[/PREFIX][?name=value&…]
 *
 * parameters (docs/backends/s3.md has the full table):
 *   endpoint=http(s)://host[:port]   default https://s3.<region>.amazonaws.com
 *   region=us-east-1                 the SigV4 signing region
 *   addressing=path|virtual          default path with an endpoint, virtual without
 *   part_size=8MiB                   multipart part size (5 MiB .. 5 GiB)
 *   multipart_threshold=16MiB        objects this big or bigger go multipart
 *   parallel=4                       part uploads in flight per object (1 .. 16)
 *   retries=4                        attempts after the first (0 .. 20)
 *   connect_timeout=10               seconds
 *   stall_timeout=60                 seconds without a byte moving
 *   abandoned_uploads=86400          seconds: older multipart uploads under the
 *                                    prefix are aborted at open (0: never)
 *   credentials=FILE, profile=NAME   an AWS shared credentials file
 *
 * Credentials come from the URL's userinfo (percent-encoded), else the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
 * else a shared credentials file: credentials=FILE, else
 * $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials, in section
 * [profile] (profile=, else $AWS_PROFILE, else "default"). No message here
 * ever quotes the userinfo or any credential; a file is named, never
 * quoted. Secrets are wiped from memory when freed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/blob.h"
#include "store/s3_int.h"
#include "util/str.h"

#define CRED_FILE_MAX (64 * 1024) /* bytes of a credentials file read */
#define CRED_MAX      2048        /* bytes of one credential (session tokens are long) */

static void wipe_free(char *s)
{
    if (!s) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void s3_conf_free(s3_conf *c)
{
    if (!c) return;
    free(c->scheme);
    free(c->authority);
    free(c->region);
    free(c->bucket);
    free(c->prefix);
    wipe_free(c->access);
    wipe_free(c->secret);
    wipe_free(c->token);
    free(c->sigv4);
    memset(c, 0, sizeof(*c));
}

static ad_code oom(ad_error *err)
{
    return ad_fail(err, AD_E_NOMEM, "out of memory");
}

/* A percent-decoded copy of [s, s + n); NULL when malformed or no memory. */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    long k;
    if (!out) return NULL;
    k = ad_pct_decode(s, n, out, false);
    if (k < 0) {
        free(out);
        return NULL;
    }
    out[k] = '\0';
    if (strlen(out) != (size_t)k) { /* an encoded NUL */
        free(out);
        return NULL;
    }
    return out;
}

/* "8MiB", "5242880", "16M", "1GiB" → bytes. */
static bool parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},        {"B", 1},         {"k", 1024},     {"K", 1024},      {"KiB", 1024},
                 {"M", 1 << 20}, {"MiB", 1 << 20}, {"G", 1u << 30}, {"GiB", 1u << 30}};
    char num[24];
    size_t d = strspn(s, "0123456789");
    uint64_t v;
    if (d == 0 || d >= sizeof(num)) return false;
    memcpy(num, s, d);
    num[d] = '\0';
    if (!ad_parse_u64(num, UINT64_MAX, &v)) return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + d, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult) return false;
            *out = v * units[i].mult;
            return true;
        }
    }
    return false;
}

static bool printable(const char *s, const char *forbid)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || strchr(forbid, *s))
            return false;
    return true;
}

/* endpoint=http(s)://host[:port][/] */
static ad_code set_endpoint(s3_conf *c, const char *v, ad_error *err)
{
    const char *rest;
    size_t n;
    if (strncmp(v, "http://", 7) == 0)
        rest = v + 7, c->scheme = strdup("http");
    else if (strncmp(v, "https://", 8) == 0)
        rest = v + 8, c->scheme = strdup("https");
    else
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3 URL: endpoint \"%.200s\" must start with http:// or https://", v);
    if (!c->scheme) return oom(err);
    n = strcspn(rest, "/");
    if (n == 0 || (rest[n] == '/' && rest[n + 1] != '\0'))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3 URL: endpoint \"%.200s\" must be scheme://host[:port] with no path", v);
    for (size_t i = 0; i < n; i++) {
        char ch = rest[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']'))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "S3 URL: endpoint \"%.200s\": the host may hold only letters, digits, "
                           "'.', '-', ':' and brackets",
                           v);
    }
    c->authority = ad_strndup(rest, n);
    return c->authority ? AD_OK : oom(err);
}

typedef struct params {
    char *endpoint, *region, *addressing, *credentials, *profile;
    char *part_size, *threshold, *parallel, *retries, *connect_timeout, *stall_timeout;
    char *abandoned;
} params;

static void params_free(params *p)
{
    free(p->endpoint), free(p->region), free(p->addressing), free(p->credentials);
    free(p->profile), free(p->part_size), free(p->threshold), free(p->parallel), free(p->retries);
    free(p->connect_timeout), free(p->stall_timeout), free(p->abandoned);
}

static ad_code parse_params(const char *q, params *p, ad_error *err)
{
    static const struct {
        const char *name;
        size_t off;
    } names[] = {
        {"endpoint", offsetof(params, endpoint)},
        {"region", offsetof(params, region)},
        {"addressing", offsetof(params, addressing)},
        {"credentials", offsetof(params, credentials)},
        {"profile", offsetof(params, profile)},
        {"part_size", offsetof(params, part_size)},
        {"multipart_threshold", offsetof(params, threshold)},
        {"parallel", offsetof(params, parallel)},
        {"retries", offsetof(params, retries)},
        {"connect_timeout", offsetof(params, connect_timeout)},
        {"stall_timeout", offsetof(params, stall_timeout)},
        {"abandoned_uploads", offsetof(params, abandoned)},
    };
    while (*q) {
        size_t n = strcspn(q, "&"), k = strcspn(q, "=");
        char **slot = NULL, name[32];
        if (n == 0) {
            q++;
            continue;
        }
        if (k >= n || k >= sizeof(name))
            return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: parameter \"%.*s\" has no value",
                           (int)(n < 64 ? n : 64), q);
        memcpy(name, q, k);
        name[k] = '\0';
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (!strcmp(name, names[i].name)) slot = (char **)((char *)p + names[i].off);
        if (!slot)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "S3 URL: unknown parameter \"%s\" (known: endpoint, region, "
                           "addressing, part_size, multipart_threshold, parallel, retries, "
                           "connect_timeout, stall_timeout, abandoned_uploads, credentials, "
                           "profile)",
                           name);
        free(*slot);
        if (!(*slot = decode(q + k + 1, n - k - 1)))
            return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: parameter %s: bad percent-encoding",
                           name);
        q += n;
    }
    return AD_OK;
}

static ad_code parse_number(const char *name, const char *v, uint64_t lo, uint64_t hi,
                            uint64_t *out, ad_error *err)
{
    if (!ad_parse_u64(v, hi, out) || *out < lo)
        return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: %s must be a number from %llu to %llu", name,
                       (unsigned long long)lo, (unsigned long long)hi);
    return AD_OK;
}

/* [section] key = value lines of an AWS shared credentials file. */
static ad_code read_cred_file(s3_conf *c, const char *path, const char *profile, bool required,
                              ad_error *err)
{
    FILE *f = fopen(path, "r");
    char *text, *line, *next;
    size_t n;
    bool in = false;
    ad_code rc = AD_OK;
    if (!f) {
        if (!required && errno == ENOENT) return AD_OK;
        return ad_fail(err, AD_E_BAD_REQUEST, "S3 credentials file %.300s: %s", path,
                       strerror(errno));
    }
    text = malloc(CRED_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return oom(err);
    }
    n = fread(text, 1, CRED_FILE_MAX + 1, f);
    fclose(f);
    if (n > CRED_FILE_MAX) {
        free(text);
        return ad_fail(err, AD_E_BAD_REQUEST, "S3 credentials file %.300s: over %d bytes", path,
                       CRED_FILE_MAX);
    }
    text[n] = '\0';
    for (line = text; *line && !rc; line = next) {
        char *eq, *k, *v, *end;
        size_t len = strcspn(line, "\r\n");
        next = line + len + (line[len] ? 1 : 0);
        line[len] = '\0';
        while (*line == ' ' || *line == '\t') line++;
        if (*line == '#' || *line == ';' || !*line) continue;
        if (*line == '[') {
            end = strchr(line, ']');
            if (!end) continue;
            *end = '\0';
            k = line + 1;
            if (strncmp(k, "profile ", 8) == 0) k += 8; /* the config file's spelling */
            in = strcmp(k, profile) == 0;
            continue;
        }
        if (!in || !(eq = strchr(line, '='))) continue;
        *eq = '\0';
        k = line, v = eq + 1;
        for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--) end[-1] = '\0';
        while (*v == ' ' || *v == '\t') v++;
        for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
            end[-1] = '\0';
        if (strlen(v) > CRED_MAX) continue;
        if (!strcasecmp(k, "aws_access_key_id") && !c->access) {
            if (!(c->access = strdup(v))) rc = oom(err);
        } else if (!strcasecmp(k, "aws_secret_access_key") && !c->secret) {
            if (!(c->secret = strdup(v))) rc = oom(err);
        } else if (!strcasecmp(k, "aws_session_token") && !c->token) {
            if (!(c->token = strdup(v))) rc = oom(err);
        }
    }
    explicit_bzero(text, n);
    free(text);
    if (!rc && required && (!c->access || !c->secret))
        rc = ad_fail(err, AD_E_BAD_REQUEST,
                     "S3 credentials file %.300s has no aws_access_key_id and "
                     "aws_secret_access_key in profile [%.100s]",
                     path, profile);
    return rc;
}

static ad_code find_credentials(s3_conf *c, const params *p, ad_error *err)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN");
    ad_code rc = AD_OK;
    if (!c->access && ak && *ak && sk && *sk) {
        if (!(c->access = strdup(ak)) || !(c->secret = strdup(sk))) return oom(err);
        if (tok && *tok && !(c->token = strdup(tok))) return oom(err);
    }
    if (!c->access) {
        const char *profile = p->profile ? p->profile : getenv("AWS_PROFILE");
        const char *file = p->credentials ? p->credentials : getenv("AWS_SHARED_CREDENTIALS_FILE");
        char home_file[1024];
        if (!profile || !*profile) profile = "default";
        if (file && *file) {
            rc = read_cred_file(c, file, profile, true, err);
        } else if (getenv("HOME")) {
            snprintf(home_file, sizeof(home_file), "%s/.aws/credentials", getenv("HOME"));
            rc = read_cred_file(c, home_file, profile, false, err);
        }
        if (rc) return rc;
    }
    if (!c->access || !c->secret || !*c->access || !*c->secret)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3: no credentials: put them in the URL (s3://KEY:SECRET@bucket), in "
                       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or in a credentials file "
                       "(credentials=FILE)");
    if (strlen(c->access) > CRED_MAX || !printable(c->access, "/:"))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3: the access key id has a character an access key cannot have");
    if (strlen(c->secret) > CRED_MAX || !printable(c->secret, ""))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3: the secret key has a character a secret key cannot have");
    if (c->token && (strlen(c->token) > CRED_MAX * 4 || !printable(c->token, "")))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3: the session token has a character a token cannot have");
    return AD_OK;
}

static ad_code finish(s3_conf *c, ad_error *err)
{
    size_t n = strlen(c->region) + 16;
    c->sigv4 = malloc(n);
    if (!c->sigv4) return oom(err);
    snprintf(c->sigv4, n, "aws:amz:%s:s3", c->region);
    return AD_OK;
}

static ad_code parse(const char *url, s3_conf *c, params *p, ad_error *err)
{
    const char *s = url + 5, *q = strchr(s, '?'), *at, *slash, *end;
    uint64_t v;
    ad_code rc;
    end = q ? q : s + strlen(s);
    /* userinfo: up to the first '@' before the query, when it has a ':' */
    at = memchr(s, '@', (size_t)(end - s));
    if (at && memchr(s, ':', (size_t)(at - s))) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        c->access = decode(s, (size_t)(colon - s));
        c->secret = decode(colon + 1, (size_t)(at - colon - 1));
        if (!c->access || !c->secret)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "S3 URL: the credentials before '@' are not validly percent-encoded");
        if (!*c->access || !*c->secret)
            return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: empty access key or secret before '@'");
        s = at + 1;
    }
    slash = memchr(s, '/', (size_t)(end - s));
    c->bucket = ad_strndup(s, (size_t)((slash ? slash : end) - s));
    if (!c->bucket) return oom(err);
    if ((rc = ad_blob_bucket_check(c->bucket, err))) {
        ad_error_prefix(err, "S3 URL: ");
        return rc;
    }
    c->prefix = slash ? decode(slash + 1, (size_t)(end - slash - 1)) : strdup("");
    if (!c->prefix) return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: bad percent-encoding in prefix");
    {
        size_t n = strlen(c->prefix);
        while (n && c->prefix[n - 1] == '/') c->prefix[--n] = '\0';
        if (n) {
            char *withslash;
            if ((rc = ad_blob_key_check(c->prefix, err))) {
                ad_error_prefix(err, "S3 URL: prefix: ");
                return rc;
            }
            if (n > S3_KEY_MAX / 2)
                return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: the prefix is over %d bytes",
                               S3_KEY_MAX / 2);
            withslash = malloc(n + 2);
            if (!withslash) return oom(err);
            memcpy(withslash, c->prefix, n);
            memcpy(withslash + n, "/", 2);
            free(c->prefix);
            c->prefix = withslash;
        }
    }
    if (q && (rc = parse_params(q + 1, p, err))) return rc;

    c->region = strdup(p->region ? p->region : "us-east-1");
    if (!c->region) return oom(err);
    if (!*c->region || strlen(c->region) > 40 ||
        strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c->region))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3 URL: region \"%.60s\" may hold only lowercase letters, digits and '-'",
                       c->region);
    if (p->endpoint) {
        if ((rc = set_endpoint(c, p->endpoint, err))) return rc;
    } else {
        char host[96];
        snprintf(host, sizeof(host), "s3.%s.amazonaws.com", c->region);
        if (!(c->scheme = strdup("https")) || !(c->authority = strdup(host))) return oom(err);
    }
    if (!p->addressing)
        c->virtual_host = !p->endpoint;
    else if (!strcmp(p->addressing, "path"))
        c->virtual_host = false;
    else if (!strcmp(p->addressing, "virtual"))
        c->virtual_host = true;
    else
        return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: addressing must be path or virtual");
    if (c->virtual_host && strchr(c->authority, '[') != NULL)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "S3 URL: virtual-hosted addressing needs a host name, not an IPv6 address");

    c->part_size = 8u << 20;
    if (p->part_size) {
        if (!parse_size(p->part_size, &v) || v < S3_MIN_PART || v > S3_MAX_PART)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "S3 URL: part_size must be a size from 5MiB to 5GiB (e.g. 8MiB)");
        if (v > SIZE_MAX / 4) return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: part_size too big");
        c->part_size = (size_t)v;
    }
    c->threshold = 16u << 20;
    if (p->threshold) {
        if (!parse_size(p->threshold, &v) || v < S3_MIN_PART || v > S3_MAX_PART)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "S3 URL: multipart_threshold must be a size from 5MiB to 5GiB");
        c->threshold = v;
    }
    c->parallel = 4;
    if (p->parallel) {
        if ((rc = parse_number("parallel", p->parallel, 1, 16, &v, err))) return rc;
        c->parallel = (int)v;
    }
    c->retries = 4;
    if (p->retries) {
        if ((rc = parse_number("retries", p->retries, 0, 20, &v, err))) return rc;
        c->retries = (int)v;
    }
    c->connect_timeout_ms = 10000;
    if (p->connect_timeout) {
        if ((rc = parse_number("connect_timeout", p->connect_timeout, 1, 600, &v, err))) return rc;
        c->connect_timeout_ms = (long)v * 1000;
    }
    c->stall_timeout_s = 60;
    if (p->stall_timeout) {
        if ((rc = parse_number("stall_timeout", p->stall_timeout, 1, 3600, &v, err))) return rc;
        c->stall_timeout_s = (long)v;
    }
    c->abandoned_s = 86400;
    if (p->abandoned) {
        if ((rc = parse_number("abandoned_uploads", p->abandoned, 0, 366 * 86400, &v, err)))
            return rc;
        c->abandoned_s = (long)v;
    }
    if ((rc = find_credentials(c, p, err))) return rc;
    return finish(c, err);
}

ad_code s3_conf_parse(const char *url, s3_conf *c, ad_error *err)
{
    params p = {0};
    ad_code rc;
    memset(c, 0, sizeof(*c));
    if (strncmp(url, "s3://", 5) != 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "S3 URL: must start with s3://");
    rc = parse(url, c, &p, err);
    params_free(&p);
    if (rc) s3_conf_free(c);
    return rc;
}

ad_code s3_conf_for_bucket(const s3_conf *src, const char *bucket, s3_conf *dst, ad_error *err)
{
    memset(dst, 0, sizeof(*dst));
    *dst = *src;
    dst->scheme = strdup(src->scheme);
    dst->authority = strdup(src->authority);
    dst->region = strdup(src->region);
    dst->bucket = strdup(bucket);
    dst->prefix = strdup("");
    dst->access = strdup(src->access);
    dst->secret = strdup(src->secret);
    dst->token = src->token ? strdup(src->token) : NULL;
    dst->sigv4 = strdup(src->sigv4);
    if (!dst->scheme || !dst->authority || !dst->region || !dst->bucket || !dst->prefix ||
        !dst->access || !dst->secret || (src->token && !dst->token) || !dst->sigv4) {
        s3_conf_free(dst);
        return oom(err);
    }
    return AD_OK;
}
