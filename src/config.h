/*
 * config.h — assetd's settings: command-line flags, each with an ASSETD_*
 * environment variable, over built-in defaults (flags win over the
 * environment). `assetd --help` prints the table in config.c.
 */
#ifndef ASSETD_CONFIG_H
#define ASSETD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define AD_CONFIG_MAX_LISTEN 16

typedef struct ad_config {
    char *listen[AD_CONFIG_MAX_LISTEN];
    size_t nlisten;
    char *data_dir;
    char *meta_url;
    char *blobs_url;
    char *jobs_url;
    char *public_url;
    unsigned threads;
    size_t max_body;
    char *tls_cert, *tls_key; /* PEM files; both or neither */
    unsigned conn_timeout;
    unsigned max_connections;
    unsigned header_timeout; /* seconds for a request's headers */
    size_t max_header_bytes; /* request line + header fields */
    bool access_log;
    bool fetch_external; /* ZIP downloads may GET files outside the store */
    char *log_level;
    unsigned shutdown_grace; /* seconds */
    /* ZIP uploads */
    unsigned workers;           /* ingest worker threads */
    uint64_t upload_max;        /* bytes of an upload body */
    unsigned max_uploads;       /* upload bodies received at once */
    uint64_t status_ttl;        /* seconds a finished upload's status stays */
    int stage_uploads;          /* 1 on, 0 off, -1 auto (on with a shared job store) */
    bool store_while_uploading; /* core/zipspec.h */
    uint64_t zip_max_entries;
    uint64_t zip_max_unpacked; /* bytes, all entries of an archive */
    uint64_t zip_max_ratio;    /* uncompressed bytes per archive byte */
    bool insecure_no_auth;     /* open (no token) serving allowed off loopback */
    /* buckets (core/buckets.h) */
    char *default_bucket;           /* --default-bucket: "" for the main store */
    uint64_t bucket_check_interval; /* seconds between bucket heartbeats */
    /* assets pulled from URLs (core/controller.h) */
    char *source_allow;            /* --source-allow: NULL for the default list */
    char *webhook_allow;           /* --webhook-allow */
    char *service_url_template;    /* NULL: the Kubernetes service template */
    char *outbound_ca;             /* --outbound-ca: PEM CAs for https sources/webhooks */
    uint64_t source_max;           /* bytes of a fetched source */
    uint64_t source_timeout;       /* seconds */
    uint64_t webhook_timeout;      /* seconds */
    uint64_t webhook_max_response; /* bytes */
    uint64_t asset_check_interval; /* seconds */
    bool help, version;
} ad_config;

/* Fills c from the defaults, the environment and argv. AD_E_BAD_REQUEST
 * with a message naming the setting on a bad value. */
ad_code ad_config_load(ad_config *c, int argc, char **argv, ad_error *err);
void ad_config_free(ad_config *c);
void ad_config_usage(FILE *out);

#endif
