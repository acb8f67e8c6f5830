/*
 * config.c — settings from flags, ASSETD_* variables and defaults (see
 * config.h). One table lists every setting, its variable, its default and
 * its help text, so --help, the parser and the README agree.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/str.h"

enum opt_id {
    O_LISTEN = 1,
    O_DATA,
    O_META,
    O_BLOBS,
    O_JOBS,
    O_PUBLIC_URL,
    O_TLS_CERT,
    O_TLS_KEY,
    O_THREADS,
    O_MAX_BODY,
    O_CONN_TIMEOUT,
    O_MAX_CONN,
    O_HEADER_TIMEOUT,
    O_MAX_HEADER_BYTES,
    O_ACCESS_LOG,
    O_FETCH_EXTERNAL,
    O_LOG_LEVEL,
    O_SHUTDOWN_GRACE,
    O_WORKERS,
    O_UPLOAD_MAX,
    O_MAX_UPLOADS,
    O_STATUS_TTL,
    O_STAGE_UPLOADS,
    O_STORE_WHILE_UPLOADING,
    O_ZIP_MAX_ENTRIES,
    O_ZIP_MAX_UNPACKED,
    O_ZIP_MAX_RATIO,
    O_INSECURE_NO_AUTH,
    /* buckets */
    O_DEFAULT_BUCKET,
    O_BUCKET_CHECK_INTERVAL,
    /* assets pulled from URLs (core/controller.h) */
    O_SOURCE_ALLOW,
    O_OUTBOUND_CA,
    O_WEBHOOK_ALLOW,
    O_SERVICE_URL_TEMPLATE,
    O_SOURCE_MAX,
    O_SOURCE_TIMEOUT,
    O_WEBHOOK_TIMEOUT,
    O_WEBHOOK_MAX_RESPONSE,
    O_ASSET_CHECK_INTERVAL,
    O_HELP,
    O_VERSION,
};

static const struct setting {
    enum opt_id id;
    const char *flag; /* long option name */
    const char *arg;  /* argument name, NULL for none */
    const char *env;  /* environment variable, NULL for none */
    const char *def;  /* default, as shown in --help */
    const char *help;
} settings[] = {
    {O_LISTEN, "listen", "ADDR:PORT", "ASSETD_LISTEN", "127.0.0.1:8080,127.0.0.1:8081",
     "address to serve on; repeat the flag (or comma-separate the variable) for several"},
    {O_DATA, "data", "DIR", "ASSETD_DATA", "./data", "data directory of the embedded stores"},
    {O_META, "meta", "URL", "ASSETD_META", "sqlite://DIR/registry.db",
     "meta store: sqlite:///path.db, postgresql://user@host:port/db[?schema=NAME] or "
     "mongodb://host:port/db (docs/backends/)"},
    {O_BLOBS, "blobs", "URL", "ASSETD_BLOBS", "file://DIR/blobs",
     "blob store: file:///dir, or s3://[KEY:SECRET@]BUCKET[/PREFIX]?endpoint=URL&region=R "
     "(docs/backends/s3.md)"},
    {O_JOBS, "jobs", "URL", "ASSETD_JOBS", "local://DIR/jobs.db",
     "job store of ZIP uploads: local:///path.db (persisted), memory: (lost on restart), "
     "redis://[:PASS@]HOST:PORT/DB (shared by instances; docs/backends/redis.md)"},
    {O_PUBLIC_URL, "public-url", "URL", "ASSETD_PUBLIC_URL", "http(s)://FIRST-LISTEN-ADDRESS",
     "base URL clients reach this server at (used in file URLs)"},
    {O_TLS_CERT, "tls-cert", "FILE", "ASSETD_TLS_CERT", "none (plain HTTP)",
     "serve HTTPS with this PEM certificate (chain); needs --tls-key"},
    {O_TLS_KEY, "tls-key", "FILE", "ASSETD_TLS_KEY", "none",
     "the unencrypted PEM private key of --tls-cert"},
    {O_THREADS, "threads", "N", "ASSETD_THREADS", "number of CPUs", "worker threads per listener"},
    {O_MAX_BODY, "max-body", "BYTES", "ASSETD_MAX_BODY", "1048576",
     "largest JSON request body (asset documents, filters)"},
    {O_CONN_TIMEOUT, "conn-timeout", "SECONDS", "ASSETD_CONN_TIMEOUT", "60",
     "close connections idle this long"},
    {O_MAX_CONN, "max-connections", "N", "ASSETD_MAX_CONNECTIONS", "1024",
     "open connections per listener; requests past it get 503"},
    {O_HEADER_TIMEOUT, "header-timeout", "SECONDS", "ASSETD_HEADER_TIMEOUT", "10",
     "close connections whose request headers are not complete this long after the connection "
     "or the previous response (slow clients, idle keep-alive)"},
    {O_MAX_HEADER_BYTES, "max-header-bytes", "BYTES", "ASSETD_MAX_HEADER_BYTES", "16384",
     "largest request line plus headers; larger get 413"},
    {O_ACCESS_LOG, "access-log", "on|off", "ASSETD_ACCESS_LOG", "on", "one log line per request"},
    {O_FETCH_EXTERNAL, "fetch-external", "on|off", "ASSETD_FETCH_EXTERNAL", "off",
     "ZIP downloads fetch files whose URL is outside the store over http(s)"},
    {O_LOG_LEVEL, "log-level", "LEVEL", "ASSETD_LOG_LEVEL", "info", "debug, info, warn or error"},
    {O_SHUTDOWN_GRACE, "shutdown-grace", "SECONDS", "ASSETD_SHUTDOWN_GRACE", "10",
     "on SIGTERM, how long requests in flight may take to finish"},
    {O_WORKERS, "workers", "N", "ASSETD_WORKERS", "2", "ZIP upload worker threads"},
    {O_UPLOAD_MAX, "upload-max", "BYTES", "ASSETD_UPLOAD_MAX", "10737418240",
     "largest POST /zip/upload body (10 GiB)"},
    {O_MAX_UPLOADS, "max-concurrent-uploads", "N", "ASSETD_MAX_CONCURRENT_UPLOADS", "4",
     "POST /zip/upload bodies received at once; one more gets 429"},
    {O_STAGE_UPLOADS, "stage-uploads", "auto|on|off", "ASSETD_STAGE_UPLOADS", "auto",
     "keep upload bodies in the blob store (uploads/ID.zip) so any instance can run the job; "
     "auto: when the job store is shared (redis://)"},
    {O_STORE_WHILE_UPLOADING, "store-while-uploading", "on|off", "ASSETD_STORE_WHILE_UPLOADING",
     "on",
     "store the big stored (uncompressed) entries of a spooled upload while its body arrives; "
     "the job then checks them against the central directory instead of reading them again"},
    {O_STATUS_TTL, "status-ttl", "SECONDS", "ASSETD_STATUS_TTL", "604800",
     "how long a finished upload's status stays readable (7 days)"},
    {O_ZIP_MAX_ENTRIES, "zip-max-entries", "N", "ASSETD_ZIP_MAX_ENTRIES", "100000",
     "most entries an uploaded archive may have"},
    {O_ZIP_MAX_UNPACKED, "zip-max-unpacked", "BYTES", "ASSETD_ZIP_MAX_UNPACKED", "1099511627776",
     "most bytes an uploaded archive may unpack to (1 TiB)"},
    {O_ZIP_MAX_RATIO, "zip-max-ratio", "N", "ASSETD_ZIP_MAX_RATIO", "200",
     "highest uncompressed-to-archive size ratio (zip bombs)"},
    {O_INSECURE_NO_AUTH, "insecure-no-auth", NULL, "ASSETD_INSECURE_NO_AUTH", "off",
     "serve without tokens on non-loopback addresses while no token exists (the variable: "
     "on|off)"},
    /* buckets */
    {O_DEFAULT_BUCKET, "default-bucket", "NAME", "ASSETD_DEFAULT_BUCKET", "\"\" (none)",
     "bucket that ZIP uploads without a bucket form field go into (created at start when "
     "missing); empty: the main blob store"},
    {O_BUCKET_CHECK_INTERVAL, "bucket-check-interval", "SECONDS", "ASSETD_BUCKET_CHECK_INTERVAL",
     "30", "seconds between bucket heartbeats (exists remotely, remote policy unchanged)"},
    /* assets pulled from URLs */
    {O_SOURCE_ALLOW, "source-allow", "LIST", "ASSETD_SOURCE_ALLOW", "public addresses only",
     "where asset sources may be fetched from: comma list of hosts and CIDRs allowed besides "
     "public addresses (loopback, private, link-local and metadata addresses are refused "
     "unless listed); \"*\" allows everything"},
    {O_WEBHOOK_ALLOW, "webhook-allow", "LIST", "ASSETD_WEBHOOK_ALLOW", "public addresses only",
     "the same for validation, mutation and metadata services"},
    {O_OUTBOUND_CA, "outbound-ca", "FILE", "ASSETD_OUTBOUND_CA", "the system's",
     "PEM file of the certificate authorities trusted for https sources and webhooks, in place "
     "of the system's (a private CA)"},
    {O_SERVICE_URL_TEMPLATE, "service-url-template", "TEMPLATE", "ASSETD_SERVICE_URL_TEMPLATE",
     "http://{name}.{namespace}.svc.cluster.local{endpoint}",
     "URL of a webhook given as a service name and endpoint"},
    {O_SOURCE_MAX, "source-max", "BYTES", "ASSETD_SOURCE_MAX", "1073741824",
     "largest asset source fetched (1 GiB)"},
    {O_SOURCE_TIMEOUT, "source-timeout", "SECONDS", "ASSETD_SOURCE_TIMEOUT", "300",
     "time limit of a source fetch"},
    {O_WEBHOOK_TIMEOUT, "webhook-timeout", "SECONDS", "ASSETD_WEBHOOK_TIMEOUT", "30",
     "time limit of one webhook call"},
    {O_WEBHOOK_MAX_RESPONSE, "webhook-max-response", "BYTES", "ASSETD_WEBHOOK_MAX_RESPONSE",
     "16777216", "largest webhook answer (16 MiB)"},
    {O_ASSET_CHECK_INTERVAL, "asset-check-interval", "SECONDS", "ASSETD_ASSET_CHECK_INTERVAL", "60",
     "seconds between checks of stored asset content and retries of waiting assets"},
    {O_HELP, "help", NULL, NULL, NULL, "show this help and exit"},
    {O_VERSION, "version", NULL, NULL, NULL, "show the version and exit"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

void ad_config_usage(FILE *out)
{
    size_t i;
    fprintf(out, "usage: assetd [OPTION]...\n\n"
                 "assetd serves the Assets Registry over HTTP. Every option can also be set\n"
                 "by the environment variable shown; options win over the environment.\n\n");
    for (i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", s->flag, s->arg ? " " : "", s->arg ? s->arg : "");
        fprintf(out, "  %-28s %s\n", left, s->help);
        if (s->env) fprintf(out, "  %-28s   env %s, default %s\n", "", s->env, s->def);
    }
}

static ad_code set_str(char **slot, const char *v, ad_error *err)
{
    char *copy = strdup(v);
    if (!copy) return ad_fail(err, AD_E_NOMEM, "out of memory");
    free(*slot);
    *slot = copy;
    return AD_OK;
}

static ad_code set_listen(ad_config *c, const char *v, bool append, ad_error *err)
{
    size_t i;
    if (!append) {
        for (i = 0; i < c->nlisten; i++) free(c->listen[i]);
        c->nlisten = 0;
    }
    while (*v) {
        size_t n = strcspn(v, ",");
        if (n) {
            if (c->nlisten == AD_CONFIG_MAX_LISTEN)
                return ad_fail(err, AD_E_BAD_REQUEST, "--listen: at most %d addresses",
                               AD_CONFIG_MAX_LISTEN);
            c->listen[c->nlisten] = ad_strndup(v, n);
            if (!c->listen[c->nlisten]) return ad_fail(err, AD_E_NOMEM, "out of memory");
            c->nlisten++;
        }
        v += n + (v[n] ? 1 : 0);
    }
    return AD_OK;
}

static ad_code set_uint(const struct setting *s, const char *v, uint64_t min, uint64_t max,
                        uint64_t *out, ad_error *err)
{
    if (!ad_parse_u64(v, max, out) || *out < min)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "--%s: expected a whole number from %llu to %llu, got \"%s\"", s->flag,
                       (unsigned long long)min, (unsigned long long)max, v);
    return AD_OK;
}

/* Applies one setting's value; `from_flag` tells --listen to accumulate. */
static ad_code apply(ad_config *c, const struct setting *s, const char *v, bool from_flag,
                     bool *listen_seen, ad_error *err)
{
    uint64_t n;
    ad_code rc;
    switch (s->id) {
    case O_LISTEN:
        rc = set_listen(c, v, from_flag && *listen_seen, err);
        if (from_flag) *listen_seen = true;
        return rc;
    case O_DATA:
        return set_str(&c->data_dir, v, err);
    case O_META:
        return set_str(&c->meta_url, v, err);
    case O_BLOBS:
        return set_str(&c->blobs_url, v, err);
    case O_JOBS:
        return set_str(&c->jobs_url, v, err);
    case O_PUBLIC_URL:
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "--public-url: must start with http:// or "
                           "https://");
        return set_str(&c->public_url, v, err);
    case O_TLS_CERT:
    case O_TLS_KEY:
        if (!*v) return ad_fail(err, AD_E_BAD_REQUEST, "--%s: needs a file name", s->flag);
        return set_str(s->id == O_TLS_CERT ? &c->tls_cert : &c->tls_key, v, err);
    case O_THREADS:
        rc = set_uint(s, v, 1, 256, &n, err);
        c->threads = (unsigned)n;
        return rc;
    case O_MAX_BODY:
        rc = set_uint(s, v, 1024, (uint64_t)1 << 30, &n, err);
        c->max_body = (size_t)n;
        return rc;
    case O_CONN_TIMEOUT:
        rc = set_uint(s, v, 1, 86400, &n, err);
        c->conn_timeout = (unsigned)n;
        return rc;
    case O_MAX_CONN:
        rc = set_uint(s, v, 1, 1000000, &n, err);
        c->max_connections = (unsigned)n;
        return rc;
    case O_HEADER_TIMEOUT:
        rc = set_uint(s, v, 1, 3600, &n, err);
        c->header_timeout = (unsigned)n;
        return rc;
    case O_MAX_HEADER_BYTES:
        rc = set_uint(s, v, 1024, 1 << 20, &n, err);
        c->max_header_bytes = (size_t)n;
        return rc;
    case O_ACCESS_LOG:
        if (strcmp(v, "on") && strcmp(v, "off"))
            return ad_fail(err, AD_E_BAD_REQUEST, "--access-log: on or off, got \"%s\"", v);
        c->access_log = strcmp(v, "on") == 0;
        return AD_OK;
    case O_FETCH_EXTERNAL:
        if (strcmp(v, "on") && strcmp(v, "off"))
            return ad_fail(err, AD_E_BAD_REQUEST, "--fetch-external: on or off, got \"%s\"", v);
        c->fetch_external = strcmp(v, "on") == 0;
        return AD_OK;
    case O_LOG_LEVEL:
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "--log-level: debug, info, warn or error, got \"%s\"", v);
        return set_str(&c->log_level, v, err);
    case O_SHUTDOWN_GRACE:
        rc = set_uint(s, v, 0, 3600, &n, err);
        c->shutdown_grace = (unsigned)n;
        return rc;
    case O_WORKERS:
        rc = set_uint(s, v, 1, 256, &n, err);
        c->workers = (unsigned)n;
        return rc;
    case O_UPLOAD_MAX:
        return set_uint(s, v, 1024, UINT64_MAX / 2, &c->upload_max, err);
    case O_MAX_UPLOADS:
        rc = set_uint(s, v, 1, 100000, &n, err);
        c->max_uploads = (unsigned)n;
        return rc;
    case O_STAGE_UPLOADS:
        if (strcmp(v, "auto") && strcmp(v, "on") && strcmp(v, "off"))
            return ad_fail(err, AD_E_BAD_REQUEST, "--stage-uploads: auto, on or off, got \"%s\"",
                           v);
        c->stage_uploads = strcmp(v, "on") == 0 ? 1 : strcmp(v, "off") == 0 ? 0 : -1;
        return AD_OK;
    case O_STORE_WHILE_UPLOADING:
        if (strcmp(v, "on") && strcmp(v, "off"))
            return ad_fail(err, AD_E_BAD_REQUEST, "--store-while-uploading: on or off, got \"%s\"",
                           v);
        c->store_while_uploading = strcmp(v, "on") == 0;
        return AD_OK;
    case O_STATUS_TTL:
        return set_uint(s, v, 1, (uint64_t)10 * 365 * 86400, &c->status_ttl, err);
    case O_ZIP_MAX_ENTRIES:
        return set_uint(s, v, 1, 100000000, &c->zip_max_entries, err);
    case O_ZIP_MAX_UNPACKED:
        return set_uint(s, v, 1, UINT64_MAX / 2, &c->zip_max_unpacked, err);
    case O_ZIP_MAX_RATIO:
        return set_uint(s, v, 1, 1000000, &c->zip_max_ratio, err);
    case O_INSECURE_NO_AUTH:
        if (from_flag) {
            c->insecure_no_auth = true;
            return AD_OK;
        }
        if (strcmp(v, "on") && strcmp(v, "off"))
            return ad_fail(err, AD_E_BAD_REQUEST, "ASSETD_INSECURE_NO_AUTH: on or off, got \"%s\"",
                           v);
        c->insecure_no_auth = strcmp(v, "on") == 0;
        return AD_OK;
    case O_DEFAULT_BUCKET:
        return set_str(&c->default_bucket, v, err);
    case O_BUCKET_CHECK_INTERVAL:
        return set_uint(s, v, 1, 86400, &c->bucket_check_interval, err);
    case O_SOURCE_ALLOW:
        return set_str(&c->source_allow, v, err);
    case O_WEBHOOK_ALLOW:
        return set_str(&c->webhook_allow, v, err);
    case O_OUTBOUND_CA:
        return set_str(&c->outbound_ca, v, err);
    case O_SERVICE_URL_TEMPLATE:
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "--service-url-template: must start with http:// or https://");
        return set_str(&c->service_url_template, v, err);
    case O_SOURCE_MAX:
        return set_uint(s, v, 1, UINT64_MAX / 2, &c->source_max, err);
    case O_SOURCE_TIMEOUT:
        return set_uint(s, v, 1, 86400, &c->source_timeout, err);
    case O_WEBHOOK_TIMEOUT:
        return set_uint(s, v, 1, 3600, &c->webhook_timeout, err);
    case O_WEBHOOK_MAX_RESPONSE:
        return set_uint(s, v, 1024, (uint64_t)1 << 30, &c->webhook_max_response, err);
    case O_ASSET_CHECK_INTERVAL:
        return set_uint(s, v, 1, 86400, &c->asset_check_interval, err);
    case O_HELP:
        c->help = true;
        return AD_OK;
    case O_VERSION:
        c->version = true;
        return AD_OK;
    }
    return AD_OK;
}

static ad_code derive_defaults(ad_config *c, ad_error *err)
{
    char buf[4096];
    ad_code rc = AD_OK;
    if (!c->nlisten) rc = set_listen(c, settings[0].def, false, err);
    if (!rc && !c->data_dir) rc = set_str(&c->data_dir, "./data", err);
    if (!rc && !c->meta_url) {
        snprintf(buf, sizeof(buf), "sqlite://%s/registry.db", c->data_dir);
        rc = set_str(&c->meta_url, buf, err);
    }
    if (!rc && !c->blobs_url) {
        snprintf(buf, sizeof(buf), "file://%s/blobs", c->data_dir);
        rc = set_str(&c->blobs_url, buf, err);
    }
    if (!rc && !c->jobs_url) {
        snprintf(buf, sizeof(buf), "local://%s/jobs.db", c->data_dir);
        rc = set_str(&c->jobs_url, buf, err);
    }
    if (!rc && !c->public_url) {
        snprintf(buf, sizeof(buf), "%s://%s", c->tls_cert ? "https" : "http", c->listen[0]);
        rc = set_str(&c->public_url, buf, err);
    }
    if (!rc && !c->log_level) rc = set_str(&c->log_level, "info", err);
    if (!c->threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    return rc;
}

ad_code ad_config_load(ad_config *c, int argc, char **argv, ad_error *err)
{
    struct option longopts[NSETTINGS + 1];
    bool listen_seen = false;
    size_t i;
    int ch;
    memset(c, 0, sizeof(*c));
    c->max_body = 1 << 20;
    c->conn_timeout = 60;
    c->max_connections = 1024;
    c->header_timeout = 10;
    c->max_header_bytes = 16384;
    c->max_uploads = 4;
    c->access_log = true;
    c->stage_uploads = -1;
    c->store_while_uploading = true;
    c->shutdown_grace = 10;
    c->workers = 2;
    c->upload_max = 10ull << 30;
    c->status_ttl = 7 * 86400;
    c->zip_max_entries = 100000;
    c->zip_max_unpacked = 1ull << 40;
    c->zip_max_ratio = 200;
    c->bucket_check_interval = 30;
    c->source_max = 1ull << 30;
    c->source_timeout = 300;
    c->webhook_timeout = 30;
    c->webhook_max_response = 16ull << 20;
    c->asset_check_interval = 60;
    for (i = 0; i < NSETTINGS; i++) {
        const char *v = settings[i].env ? getenv(settings[i].env) : NULL;
        ad_code rc;
        longopts[i].name = settings[i].flag;
        longopts[i].has_arg = settings[i].arg ? required_argument : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = (int)settings[i].id;
        if (!v || !*v) continue;
        rc = apply(c, &settings[i], v, false, &listen_seen, err);
        if (rc) {
            ad_error_prefix(err, "(from the environment) ");
            return rc;
        }
    }
    memset(&longopts[NSETTINGS], 0, sizeof(longopts[0]));
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        ad_code rc;
        if (ch == 'h') ch = O_HELP;
        if (ch == '?')
            return ad_fail(err, AD_E_BAD_REQUEST, "unknown option %s (see --help)",
                           argv[optind - 1]);
        if (ch == ':')
            return ad_fail(err, AD_E_BAD_REQUEST, "option %s needs a value", argv[optind - 1]);
        for (i = 0; i < NSETTINGS && (int)settings[i].id != ch; i++) {
        }
        if (i == NSETTINGS) return ad_fail(err, AD_E_INTERNAL, "unhandled option");
        rc = apply(c, &settings[i], optarg ? optarg : "", true, &listen_seen, err);
        if (rc) return rc;
    }
    if (optind < argc)
        return ad_fail(err, AD_E_BAD_REQUEST, "unexpected argument \"%s\" (see --help)",
                       argv[optind]);
    if (!c->tls_cert != !c->tls_key && !c->help && !c->version)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "--%s is missing: --tls-cert and --tls-key go together (both for HTTPS, "
                       "neither for plain HTTP)",
                       c->tls_cert ? "tls-key" : "tls-cert");
    return derive_defaults(c, err);
}

void ad_config_free(ad_config *c)
{
    size_t i;
    for (i = 0; i < c->nlisten; i++) free(c->listen[i]);
    free(c->data_dir);
    free(c->meta_url);
    free(c->blobs_url);
    free(c->jobs_url);
    free(c->public_url);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->log_level);
    free(c->default_bucket);
    free(c->source_allow);
    free(c->outbound_ca);
    free(c->webhook_allow);
    free(c->service_url_template);
}
