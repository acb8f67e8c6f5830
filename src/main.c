/*
 * main.c — assetd: reads the settings, wires the store adapters to the
 * ports, starts the listeners and waits for SIGTERM/SIGINT, then stops
 * accepting, lets in-flight requests finish and closes the stores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/api.h"
#include "config.h"
#include "core/auth.h"
#include "core/buckets.h"
#include "core/controller.h"
#include "core/fetch.h"
#include "core/ingest.h"
#include "core/registry.h"
#include "http/server.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "store/meta.h"
#include "util/log.h"
#include "util/str.h"

static int make_dirs(const char *path)
{
    char buf[4096];
    size_t i, n = strlen(path);
    if (n >= sizeof(buf)) return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        buf[i] = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST) return -1;
        if (i < n) buf[i] = '/';
    }
    return 0;
}

static ad_log_level level_of(const char *name)
{
    if (strcmp(name, "debug") == 0) return AD_LOG_DEBUG;
    if (strcmp(name, "warn") == 0) return AD_LOG_WARN;
    if (strcmp(name, "error") == 0) return AD_LOG_ERROR;
    return AD_LOG_INFO;
}

/* Whether a --listen address ("127.0.0.1:8080", "[::1]:8080") is loopback. */
static bool loopback_addr(const char *spec)
{
    char host[64];
    const char *end;
    size_t n;
    struct in_addr a4;
    struct in6_addr a6;
    if (spec[0] == '[') {
        end = strchr(spec, ']');
        spec++;
    } else {
        end = strrchr(spec, ':');
    }
    n = end ? (size_t)(end - spec) : strlen(spec);
    if (n >= sizeof(host)) return false;
    memcpy(host, spec, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0) return true;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Secure by default: serving without tokens is for loopback only. Sets
 * app->open_allowed; refuses (false) a non-loopback address while no token
 * exists unless --insecure-no-auth. */
static bool check_exposure(const ad_config *cfg, ad_app *app)
{
    ad_error err = {0};
    bool all_loopback = true, any = false;
    size_t i;
    for (i = 0; i < cfg->nlisten; i++)
        if (!loopback_addr(cfg->listen[i])) all_loopback = false;
    app->open_allowed = all_loopback || cfg->insecure_no_auth;
    if (all_loopback) return true;
    if (ad_token_any(app->meta, &any, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot read the tokens\" error=\"%s\"", err.msg);
        return false;
    }
    if (any || cfg->insecure_no_auth) {
        if (!any)
            ad_log(AD_LOG_WARN, "msg=\"serving WITHOUT authentication on a non-loopback address "
                                "(--insecure-no-auth); anyone who can connect is admin\"");
        return true;
    }
    /* one line a person can act on: the log is stderr, so no second copy */
    ad_log(AD_LOG_ERROR,
           "msg=\"refusing to serve a non-loopback address with no token configured; either "
           "create a token (assetd token create NAME admin, with the same --data or --meta) or "
           "serve without authentication (--insecure-no-auth)\"");
    return false;
}

/* Opens the job store and the spool directory, and starts the ingest
 * workers (which take over jobs whose worker died, here or elsewhere). */
static ad_code start_ingest(const ad_config *cfg, ad_app *app, ad_controller *ctl, char *spool,
                            size_t cap, ad_ingest **out, ad_error *err)
{
    ad_ingest_opts o = {0};
    ad_code rc;
    if ((size_t)snprintf(spool, cap, "%s/spool", cfg->data_dir) >= cap || make_dirs(spool) != 0)
        return ad_fail(err, AD_E_BACKEND, "cannot create the spool directory %s", spool);
    app->jobs->ttl = (int64_t)cfg->status_ttl; /* Redis lets finished jobs expire by themselves */
    app->spool_dir = spool;
    /* a job store other instances share (anything but local: and memory:)
     * may hand a job to any of them: its archive must be where all can read */
    app->stage_uploads = cfg->stage_uploads == 1 ||
                         (cfg->stage_uploads == -1 && strncmp(cfg->jobs_url, "local:", 6) != 0 &&
                          strncmp(cfg->jobs_url, "memory:", 7) != 0);
    app->upload_max = cfg->upload_max;
    app->store_while_uploading = cfg->store_while_uploading;
    app->zip_limits.max_entries = cfg->zip_max_entries;
    app->zip_limits.max_unpacked = cfg->zip_max_unpacked;
    app->zip_limits.max_ratio = cfg->zip_max_ratio;
    o.jobs = app->jobs, o.blobs = app->blobs, o.reg = app->reg, o.buckets = app->buckets;
    o.public_url = cfg->public_url;
    o.workers = cfg->workers;
    o.max_entries = cfg->zip_max_entries;
    o.max_unpacked = cfg->zip_max_unpacked;
    o.max_ratio = cfg->zip_max_ratio;
    o.status_ttl = (int64_t)cfg->status_ttl;
    o.spool_dir = spool;
    o.controller = ctl;
    rc = ad_ingest_start(&o, out, err);
    if (!rc) api_zip_sweep_spool(app);
    return rc;
}

/* The bucket service on the main blob store and its heartbeat; creates
 * --default-bucket when it is missing. */
static ad_code start_buckets(const ad_config *cfg, ad_app *app, ad_buckets **out, ad_error *err)
{
    ad_buckets_opts o = {0};
    ad_code rc;
    *out = NULL;
    if (!app->blobs->ops->bucket_create && !(cfg->default_bucket && *cfg->default_bucket)) {
        ad_log(AD_LOG_WARN, "msg=\"the blob store has no buckets: /buckets is unavailable\"");
        return AD_OK;
    }
    o.meta = app->meta, o.blobs = app->blobs, o.public_url = cfg->public_url;
    o.check_interval = (int64_t)cfg->bucket_check_interval;
    o.default_bucket = cfg->default_bucket;
    rc = ad_buckets_new(&o, out, err);
    if (rc) return rc;
    app->buckets = *out;
    if (ad_registry_set_buckets(app->reg, *out, cfg->public_url))
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    return ad_buckets_start(*out, err);
}

/* The asset store's controller: the allow lists, the service, the
 * registry hooks that enqueue its runs. Started after the ingest workers
 * (which run its jobs), from start_controller. */
typedef struct controller_parts {
    ad_netallow *source_allow, *webhook_allow;
    ad_controller *ctl;
} controller_parts;

static ad_code new_controller(const ad_config *cfg, ad_app *app, const char *spool,
                              controller_parts *p, ad_error *err)
{
    ad_controller_opts o = {0};
    ad_registry_hooks hooks;
    ad_code rc;
    /* read by libcurl at each https request: a bad path is said at start */
    if (cfg->outbound_ca && access(cfg->outbound_ca, R_OK) != 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "--outbound-ca: cannot read %s: %s", cfg->outbound_ca,
                       strerror(errno));
    rc = ad_netallow_parse(cfg->source_allow, &p->source_allow, err);
    if (rc) return ad_error_prefix(err, "--source-allow: "), rc;
    rc = ad_netallow_parse(cfg->webhook_allow, &p->webhook_allow, err);
    if (rc) return ad_error_prefix(err, "--webhook-allow: "), rc;
    o.reg = app->reg, o.jobs = app->jobs, o.buckets = app->buckets;
    o.spool_dir = spool, o.public_url = cfg->public_url;
    o.source_allow = p->source_allow, o.webhook_allow = p->webhook_allow;
    o.service_url_template = cfg->service_url_template;
    o.ca_file = cfg->outbound_ca;
    o.source_max = cfg->source_max;
    o.source_timeout = (long)cfg->source_timeout;
    o.webhook_timeout = (long)cfg->webhook_timeout;
    o.webhook_max_response = (size_t)cfg->webhook_max_response;
    o.check_interval = (int64_t)cfg->asset_check_interval;
    o.limits.max_entries = cfg->zip_max_entries;
    o.limits.max_unpacked = cfg->zip_max_unpacked;
    o.limits.max_ratio = cfg->zip_max_ratio;
    rc = ad_controller_new(&o, &p->ctl, err);
    if (rc) return rc;
    ad_controller_hooks(p->ctl, &hooks);
    ad_registry_set_hooks(app->reg, &hooks);
    return AD_OK;
}

static void free_controller(controller_parts *p)
{
    ad_controller_free(p->ctl);
    ad_netallow_free(p->source_allow);
    ad_netallow_free(p->webhook_allow);
}

static int serve(const ad_config *cfg, const sigset_t *sigs)
{
    ad_error err = {0};
    ad_meta *meta = NULL;
    ad_blob *blobs = NULL;
    ad_registry *reg = NULL;
    ad_ingest *ingest = NULL;
    ad_buckets *buckets = NULL;
    controller_parts ctl = {0};
    char spool[4096];
    http_server *srv = NULL;
    ad_app app = {0};
    http_server_opts opts = {0};
    int sig = 0, status = 1;

    if (make_dirs(cfg->data_dir) != 0) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot create the data directory\" dir=\"%s\" error=\"%s\"",
               cfg->data_dir, strerror(errno));
        return 1;
    }
    if (ad_meta_open(cfg->meta_url, &meta, &err) || ad_blob_open(cfg->blobs_url, &blobs, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot open a store\" error=\"%s\"", err.msg);
        goto out;
    }
    reg = ad_registry_new(meta);
    if (!reg) goto out;
    app.reg = reg, app.meta = meta, app.blobs = blobs, app.jobs_url = cfg->jobs_url;
    app.public_url = cfg->public_url;
    app.fetch_external = cfg->fetch_external;
    if (api_auth_init(&app, &err) || !check_exposure(cfg, &app)) goto out;
    if (ad_registry_set_files(reg, blobs, cfg->public_url)) goto out;
    if (start_buckets(cfg, &app, &buckets, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start the buckets\" error=\"%s\"", err.msg);
        goto out;
    }
    if ((size_t)snprintf(spool, sizeof(spool), "%s/spool", cfg->data_dir) >= sizeof(spool) ||
        ad_jobs_open(cfg->jobs_url, &app.jobs, &err) ||
        new_controller(cfg, &app, spool, &ctl, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start the asset controller\" error=\"%s\"", err.msg);
        goto out;
    }
    if (start_ingest(cfg, &app, ctl.ctl, spool, sizeof(spool), &ingest, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start the upload pipeline\" error=\"%s\"", err.msg);
        goto out;
    }
    if (ad_controller_start(ctl.ctl, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start the asset check\" error=\"%s\"", err.msg);
        goto out;
    }
    opts.listen = (const char *const *)cfg->listen;
    opts.nlisten = cfg->nlisten;
    opts.threads = cfg->threads;
    opts.default_max_body = cfg->max_body;
    opts.upload_max_body = cfg->upload_max;
    opts.conn_timeout_s = cfg->conn_timeout;
    opts.conn_limit = cfg->max_connections;
    opts.header_timeout_s = cfg->header_timeout;
    opts.max_header_bytes = cfg->max_header_bytes;
    opts.max_uploads = cfg->max_uploads;
    opts.tls_cert_file = cfg->tls_cert;
    opts.tls_key_file = cfg->tls_key;
    opts.access_log = cfg->access_log;
    opts.routes = ad_routes;
    opts.nroutes = ad_nroutes;
    opts.app = &app;
    opts.authorize = api_authorize;
    if (http_server_start(&opts, &srv, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start\" error=\"%s\"", err.msg);
        goto out;
    }
    {
        /* URLs may carry credentials (s3://KEY:SECRET@…): never logged */
        char meta_s[512], blobs_s[512], jobs_s[512];
        ad_url_redact(cfg->meta_url, meta_s, sizeof(meta_s));
        ad_url_redact(cfg->blobs_url, blobs_s, sizeof(blobs_s));
        ad_url_redact(cfg->jobs_url, jobs_s, sizeof(jobs_s));
        ad_log(AD_LOG_INFO, "msg=started meta=\"%s\" blobs=\"%s\" jobs=\"%s\" public_url=\"%s\"",
               meta_s, blobs_s, jobs_s, cfg->public_url);
    }
    while (sigwait(sigs, &sig) != 0) {
    }
    ad_log(AD_LOG_INFO, "msg=\"shutting down\" signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_server_stop(srv, cfg->shutdown_grace * 1000);
    status = 0;
out:
    ad_ingest_stop(ingest); /* a job in progress goes back to the queue */
    free_controller(&ctl);  /* its check thread uses the buckets and the job store */
    ad_buckets_free(buckets);
    if (app.jobs) app.jobs->ops->close(app.jobs);
    ad_registry_free(reg);
    if (blobs) blobs->ops->close(blobs);
    if (meta) meta->ops->close(meta);
    api_auth_free(&app);
    if (status == 0) ad_log(AD_LOG_INFO, "msg=stopped");
    return status;
}

static int print_token(void *ctx, const ad_token_info *info)
{
    char when[32];
    time_t t = (time_t)info->created;
    struct tm tm;
    (void)ctx;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-32s %-7s %s\n", info->name, ad_role_name(info->role), when);
    return 0;
}

/* assetd token create NAME ROLE | list | revoke NAME [store options]: works
 * on the meta store directly, so the first admin token can be made before
 * the server is exposed (and without a running server). */
static int token_command(const ad_config *cfg, char **words, int nwords)
{
    ad_meta *meta = NULL;
    ad_error err = {0};
    ad_code rc;
    int status = 0;
    const char *verb = nwords > 0 ? words[0] : "";
    if (!((strcmp(verb, "create") == 0 && nwords == 3) ||
          (strcmp(verb, "list") == 0 && nwords == 1) ||
          (strcmp(verb, "revoke") == 0 && nwords == 2))) {
        fprintf(stderr, "usage: assetd token create NAME reader|writer|admin [OPTIONS]\n"
                        "       assetd token list [OPTIONS]\n"
                        "       assetd token revoke NAME [OPTIONS]\n"
                        "OPTIONS: --data DIR or --meta URL, as for the server\n");
        return 2;
    }
    if (make_dirs(cfg->data_dir) != 0 || ad_meta_open(cfg->meta_url, &meta, &err)) {
        char shown[512];
        ad_url_redact(cfg->meta_url, shown, sizeof(shown));
        fprintf(stderr, "assetd: cannot open the meta store %s: %s\n", shown,
                err.msg[0] ? err.msg : strerror(errno));
        return 1;
    }
    if (strcmp(verb, "create") == 0) {
        ad_role role;
        ad_token_info info;
        char token[AD_TOKEN_LEN + 1];
        rc = ad_role_parse(words[2], &role, &err);
        if (!rc) rc = ad_token_create(meta, words[1], role, token, &info, &err);
        if (!rc) {
            printf("%s\n", token);
            fprintf(stderr, "token %s (%s) created; it is shown only this once\n", info.name,
                    ad_role_name(info.role));
            ad_log_audit("(local)", "token create", info.name, 201, ad_role_name(info.role));
        }
    } else if (strcmp(verb, "list") == 0) {
        rc = ad_token_list(meta, print_token, NULL, &err);
    } else {
        rc = ad_token_revoke(meta, words[1], &err);
        if (!rc) fprintf(stderr, "token %s revoked\n", words[1]);
        ad_log_audit("(local)", "token revoke", words[1], rc ? ad_code_http_status(rc) : 200, NULL);
    }
    if (rc) {
        fprintf(stderr, "assetd: %s\n", err.msg);
        status = 1;
    }
    meta->ops->close(meta);
    return status;
}

int main(int argc, char **argv)
{
    ad_config cfg;
    ad_error err = {0};
    sigset_t sigs;
    int status;

    /* block the stop signals in every thread; main collects them */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* before any thread: ZIP downloads of external files use libcurl */
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* assetd token VERB WORDS... [OPTIONS]: the words go to the command,
     * the options to the settings parser */
    char *words[4] = {0};
    int nwords = 0, is_token = argc >= 2 && strcmp(argv[1], "token") == 0;
    if (is_token) {
        int i, k = 1;
        for (i = 2; i < argc && argv[i][0] != '-'; i++)
            if (nwords < 4)
                words[nwords++] = argv[i];
            else
                nwords = 5; /* too many: usage */
        for (; i < argc; i++) argv[k++] = argv[i];
        argc = k;
    }
    if (ad_config_load(&cfg, argc, argv, &err)) {
        fprintf(stderr, "assetd: %s\n", err.msg);
        ad_config_free(&cfg);
        curl_global_cleanup();
        return 2;
    }
    if (cfg.help || cfg.version) {
        if (cfg.help)
            ad_config_usage(stdout);
        else
            printf("assetd 0.1.0\n");
        ad_config_free(&cfg);
        curl_global_cleanup();
        return 0;
    }
    ad_log_set_level(level_of(cfg.log_level));
    status = is_token ? token_command(&cfg, words, nwords) : serve(&cfg, &sigs);
    ad_config_free(&cfg);
    curl_global_cleanup();
    return status;
}
