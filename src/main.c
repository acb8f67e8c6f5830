/*
 * main.c — assetd: reads the settings, wires the store adapters to the
 * ports, starts the listeners and waits for SIGTERM/SIGINT, then stops
 * accepting, lets in-flight requests finish and closes the stores.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "api/api.h"
#include "config.h"
#include "core/ingest.h"
#include "core/registry.h"
#include "http/server.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "store/meta.h"
#include "util/log.h"

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

/* Opens the job store and the spool directory, and starts the ingest
 * workers (which first recover jobs an earlier process left behind). */
static ad_code start_ingest(const ad_config *cfg, ad_app *app, char *spool, size_t cap,
                            ad_ingest **out, ad_error *err)
{
    ad_ingest_opts o = {0};
    ad_code rc;
    if ((size_t)snprintf(spool, cap, "%s/spool", cfg->data_dir) >= cap || make_dirs(spool) != 0)
        return ad_fail(err, AD_E_BACKEND, "cannot create the spool directory %s", spool);
    rc = ad_jobs_open(cfg->jobs_url, &app->jobs, err);
    if (rc) return rc;
    app->spool_dir = spool;
    app->upload_max = cfg->upload_max;
    o.jobs = app->jobs, o.blobs = app->blobs, o.reg = app->reg;
    o.public_url = cfg->public_url;
    o.workers = cfg->workers;
    o.max_entries = cfg->zip_max_entries;
    o.max_unpacked = cfg->zip_max_unpacked;
    o.max_ratio = cfg->zip_max_ratio;
    o.status_ttl = (int64_t)cfg->status_ttl;
    rc = ad_ingest_start(&o, out, err);
    if (!rc) api_zip_sweep_spool(app);
    return rc;
}

static int serve(const ad_config *cfg, const sigset_t *sigs)
{
    ad_error err = {0};
    ad_meta *meta = NULL;
    ad_blob *blobs = NULL;
    ad_registry *reg = NULL;
    ad_ingest *ingest = NULL;
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
    if (ad_registry_set_files(reg, blobs, cfg->public_url)) goto out;
    if (start_ingest(cfg, &app, spool, sizeof(spool), &ingest, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start the upload pipeline\" error=\"%s\"", err.msg);
        goto out;
    }
    opts.listen = (const char *const *)cfg->listen;
    opts.nlisten = cfg->nlisten;
    opts.threads = cfg->threads;
    opts.default_max_body = cfg->max_body;
    opts.upload_max_body = cfg->upload_max;
    opts.conn_timeout_s = cfg->conn_timeout;
    opts.conn_limit = cfg->max_connections;
    opts.access_log = cfg->access_log;
    opts.routes = ad_routes;
    opts.nroutes = ad_nroutes;
    opts.app = &app;
    if (http_server_start(&opts, &srv, &err)) {
        ad_log(AD_LOG_ERROR, "msg=\"cannot start\" error=\"%s\"", err.msg);
        goto out;
    }
    {
        /* URLs may carry credentials (s3://KEY:SECRET@…): never logged */
        char meta_s[512], blobs_s[512], jobs_s[512];
        ad_blob_url_redact(cfg->meta_url, meta_s, sizeof(meta_s));
        ad_blob_url_redact(cfg->blobs_url, blobs_s, sizeof(blobs_s));
        ad_blob_url_redact(cfg->jobs_url, jobs_s, sizeof(jobs_s));
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
    if (app.jobs) app.jobs->ops->close(app.jobs);
    ad_registry_free(reg);
    if (blobs) blobs->ops->close(blobs);
    if (meta) meta->ops->close(meta);
    if (status == 0) ad_log(AD_LOG_INFO, "msg=stopped");
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
    status = serve(&cfg, &sigs);
    ad_config_free(&cfg);
    curl_global_cleanup();
    return status;
}
