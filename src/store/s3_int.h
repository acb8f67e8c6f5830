/*
 * s3_int.h — internals of the S3 blob store adapter, shared by its files
 * only (the core never includes it):
 *
 *   s3_conf.c  the store URL and credentials → s3_conf
 *   s3_http.c  one signed request (libcurl, CURLOPT_AWS_SIGV4) with retries,
 *              the pool of connections, error messages from S3's XML
 *   s3_xml.c   the bounded reader of S3's XML answers, URI encoding
 *   s3_cleanup.c  removals that failed while S3 was away, retried later
 *   blob_s3.c  the port's slots on top of these
 */
#ifndef ASSETD_STORE_S3_INT_H
#define ASSETD_STORE_S3_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define S3_MIN_PART    (5u * 1024 * 1024)           /* S3: every part but the last */
#define S3_MAX_PART    ((uint64_t)5 << 30)          /* S3: 5 GiB */
#define S3_MAX_PARTS   10000                        /* S3: parts of one upload */
#define S3_KEY_MAX     1024                         /* S3: bytes of a full key */
#define S3_XML_MAX     (1024 * 1024)                /* an XML answer we read */
#define S3_ERRBODY_MAX (16 * 1024)                  /* an error body we keep */
#define S3_ETAG_MAX    200                          /* an ETag we keep */
#define S3_URL_MAX     (256 + 3 * S3_KEY_MAX + 512) /* a request URL */

/* ------------------------------------------------------------------------ */
/* Configuration (s3_conf.c)                                                */
/* ------------------------------------------------------------------------ */

typedef struct s3_conf {
    char *scheme;    /* "http" or "https" */
    char *authority; /* "127.0.0.1:7480", "s3.us-east-1.amazonaws.com" */
    char *region;    /* "us-east-1" */
    bool virtual_host;
    char *bucket;
    char *prefix; /* "" or "some/prefix/" (with the trailing slash) */
    size_t part_size;
    uint64_t threshold; /* objects of this many bytes or more go multipart */
    int parallel;       /* part uploads in flight per writer */
    int retries;        /* attempts after the first */
    long connect_timeout_ms;
    long stall_timeout_s; /* a transfer moving no byte for this long fails */
    long abandoned_s;     /* multipart uploads older than this are aborted at open (0: never) */
    /* credentials: never logged, never in a message */
    char *access, *secret, *token;
    char *sigv4; /* "aws:amz:<region>:s3" */
} s3_conf;

/* Parses an s3:// URL (see blob_s3.c) and finds the credentials. Messages
 * never quote the userinfo. */
ad_code s3_conf_parse(const char *url, s3_conf *c, ad_error *err);
/* A copy of src for another bucket (no prefix). */
ad_code s3_conf_for_bucket(const s3_conf *src, const char *bucket, s3_conf *dst, ad_error *err);
void s3_conf_free(s3_conf *c);

/* ------------------------------------------------------------------------ */
/* Requests (s3_http.c)                                                     */
/* ------------------------------------------------------------------------ */

/* One connection slot: an easy handle always driven through its own multi
 * handle, so its connection cache (the multi's) survives from request to
 * request; idle slots wait in the client's pool. */
typedef struct s3_conn {
    CURL *easy;
    CURLM *multi;
    bool busy; /* the easy handle is in the multi */
    struct s3_conn *next;
} s3_conn;

typedef struct s3_client {
    s3_conf conf;
    pthread_mutex_t lock; /* guards idle */
    s3_conn *idle;
    size_t nidle;
} s3_client;

/* Sink of a 2xx body: returns n, or CURL_WRITEFUNC_PAUSE, or 0 to fail. */
typedef size_t (*s3_write_fn)(void *ctx, const char *p, size_t n);

typedef struct s3_req {
    /* what to send (set by the caller) */
    const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
    const char *bucket; /* NULL: the store's bucket */
    const char *key;    /* full object key (prefix applied), NULL for a bucket */
    const char *query;  /* canonical query (sorted, encoded), NULL for none */
    const void *body;   /* PUT/POST body, body_len bytes */
    size_t body_len;
    bool sign_body;    /* send its SHA-256 (small bodies) instead of UNSIGNED-PAYLOAD */
    const char *range; /* "bytes=0-99" */
    const char *if_match;
    const char *content_type;
    bool once; /* no retries (a readiness probe answers at once) */
    /* where a 2xx body goes: write_fn, else sink (a fixed buffer of
     * sink_cap bytes; more is an error), else xml (up to S3_XML_MAX) */
    s3_write_fn write_fn;
    void *write_ctx;
    char *sink;
    size_t sink_cap;
    ad_buf *xml;

    /* what came back (set by s3_http.c) */
    long status; /* 0 when no HTTP answer arrived */
    bool has_length;
    uint64_t length; /* Content-Length */
    bool has_total;
    uint64_t total; /* the object size from Content-Range: bytes a-b/TOTAL */
    char etag[S3_ETAG_MAX];
    size_t sink_len;
    ad_buf errbody; /* a non-2xx body, cut to S3_ERRBODY_MAX */
    CURLcode curl_rc;
    char curl_msg[CURL_ERROR_SIZE];

    /* internal */
    size_t body_off;
    struct curl_slist *headers;
    bool sink_overflow;
} s3_req;

ad_code s3_client_init(s3_client *c, ad_error *err);
void s3_client_free(s3_client *c);

/* A connection slot from the pool (or a new one); NULL when out of memory. */
s3_conn *s3_conn_get(s3_client *c);
/* Back to the pool; a slot with a transfer still in its multi handle is
 * dropped (its connection closed) instead. */
void s3_conn_put(s3_client *c, s3_conn *k);

/* Sends rq on k (NULL: a slot from the pool), retrying connection errors
 * and 5xx answers with exponential backoff. AD_OK when an HTTP answer
 * other than those arrived (rq->status tells which); AD_E_UNAVAILABLE when
 * the endpoint could not be reached or kept answering 5xx. what names the
 * operation in messages ("PUT bucket/key"). */
ad_code s3_perform(s3_client *c, s3_conn *k, s3_req *rq, const char *what, ad_error *err);

/* The asynchronous half, for transfers driven by their owner (a part
 * upload overlapping the next part's filling, a paused download):
 * s3_start puts rq in k's multi handle; s3_pump moves it on, waiting up to
 * wait_ms for the socket, and returns true once it has ended; s3_finish
 * takes it out and fills in the answer (AD_OK when an HTTP answer
 * arrived; s3_retryable tells whether to try again). */
ad_code s3_start(s3_client *c, s3_conn *k, s3_req *rq, ad_error *err);
bool s3_pump(s3_conn *k, int wait_ms);
void s3_finish(s3_conn *k, s3_req *rq);
bool s3_retryable(const s3_req *rq);
/* Sleeps before retry number attempt (1, 2, …): exponential with jitter. */
void s3_backoff(int attempt);
/* Clears the answer fields of rq so it can be sent again. */
void s3_req_reset(s3_req *rq);
void s3_req_free(s3_req *rq);

/* The error for an answer that is not what was wanted: the status, the S3
 * error Code and Message from the body, and a hint for the usual causes.
 * 404 → AD_E_NOT_FOUND, 5xx/503 → AD_E_UNAVAILABLE, a transport failure →
 * AD_E_UNAVAILABLE, others → AD_E_BACKEND. */
ad_code s3_fail(const s3_client *c, const s3_req *rq, const char *what, ad_error *err);

/* "bucket/key" for messages, cut to fit. */
void s3_what(char *out, size_t cap, const char *method, const char *bucket, const char *key);

/* ------------------------------------------------------------------------ */
/* Deferred removals (s3_cleanup.c)                                         */
/* ------------------------------------------------------------------------ */

typedef struct s3_pending s3_pending;

/* A store's queue of removals to send again once S3 answers, and the
 * thread that sends them (started with the first entry). */
typedef struct s3_cleanup {
    s3_client *cl;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    s3_pending *head, *tail;
    size_t count;
    s3_pending *busy; /* the entry being sent, out of the list */
    bool ready, started, closing, kicked;
    pthread_t thread;
} s3_cleanup;

ad_code s3_cleanup_init(s3_cleanup *q, s3_client *c, ad_error *err);
/* Queues a DELETE of full key (query NULL), or an AbortMultipartUpload
 * (query "uploadId=…", encoded), that failed with AD_E_UNAVAILABLE. */
void s3_cleanup_add(s3_cleanup *q, const char *key, const char *query);
/* Before key is written again: drops its queued DELETE and waits while
 * one is being sent. */
void s3_cleanup_forget(s3_cleanup *q, const char *key);
/* S3 answers again (a ping succeeded): retry now, not after the backoff. */
void s3_cleanup_kick(s3_cleanup *q);
/* Removals queued or being sent. */
size_t s3_cleanup_pending(s3_cleanup *q);
/* One last try of what is queued (stopping at the first "unavailable"),
 * then stops the thread; what is left is logged. */
void s3_cleanup_close(s3_cleanup *q);

/* ------------------------------------------------------------------------ */
/* XML and encoding (s3_xml.c)                                              */
/* ------------------------------------------------------------------------ */

/* Finds the text of the next element <tag>…</tag> in [*pos, n) of xml
 * (tags of S3's answers never nest inside an element of the same name),
 * decodes the five entities and numeric references into out (cap bytes,
 * terminated) and moves *pos past it. 1 found, 0 none left, -1 malformed
 * or longer than cap. Never reads outside [0, n); xml may be NULL. */
int s3_xml_next(const char *xml, size_t n, size_t *pos, const char *tag, char *out, size_t cap);
/* Finds the next element <tag>…</tag> at or after *pos without decoding
 * it: the offsets of its content go to *start and *end (a self-closing
 * <tag/> has start == end), and *pos moves past it. 1, 0 or -1 as above. */
int s3_xml_element(const char *xml, size_t n, size_t *pos, const char *tag, size_t *start,
                   size_t *end);

/* Appends s percent-encoded the way SigV4 wants (unreserved A-Z a-z 0-9
 * - . _ ~ kept, every other byte %XX uppercase); '/' kept when keep_slash. */
int s3_uri_encode(ad_buf *b, const char *s, size_t n, bool keep_slash);
/* Lowercase hex SHA-256 of p (65 bytes with the NUL). */
void s3_sha256_hex(const void *p, size_t n, char out[65]);

#endif
