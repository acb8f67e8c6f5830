/*
 * assetctl.h — what the files of assetctl, the command-line client of
 * assetd, share: exit statuses, a capped growing buffer with URL encoding
 * (buf.c), the HTTP exchange with its envelope parsing (http.c) and the
 * table output (table.c). assetctl.c holds the command line and main().
 *
 * The client includes nothing of the server: it speaks HTTP to assetd only.
 */
#ifndef ASSETCTL_ASSETCTL_H
#define ASSETCTL_ASSETCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#ifndef ASSETCTL_VERSION
#define ASSETCTL_VERSION "0.1.0"
#endif

#define MAX_BODY ((size_t)1 << 30) /* cap on a response and on an input file */

enum exit_status {
    RC_OK = 0,          /* the server answered with success */
    RC_FAIL = 1,        /* the server answered with an error; bad input file; bad answer */
    RC_UNREACHABLE = 2, /* no answer: connection refused, DNS, timeout, TLS, ... */
    RC_USAGE = 64,      /* bad command line (EX_USAGE of sysexits.h) */
};

/* Prints "assetctl: out of memory" and returns RC_FAIL. */
int oom(void);

/* ------------------------------------------------------------- buf.c */

/* A growing byte buffer, NUL-terminated once non-empty, capped at
 * MAX_BODY bytes. {0} is an empty buffer; buf_free() releases it. */
struct buf {
    char *data;
    size_t len, cap;
};

/* Appends n bytes of p. False when out of memory or past MAX_BODY. */
bool buf_add(struct buf *b, const void *p, size_t n);
bool buf_str(struct buf *b, const char *s);
bool buf_char(struct buf *b, char ch);
void buf_free(struct buf *b);
/* Hands the bytes (a string, "" when empty) to the caller, who frees them;
 * the buffer is left empty. NULL when out of memory. */
char *buf_take(struct buf *b);

/* Appends n bytes of s percent-encoded: every byte but the RFC 3986
 * unreserved characters and those in keep becomes %XX. */
bool buf_escape(struct buf *b, const char *s, size_t n, const char *keep);
/* Appends one encoded path segment ('/' included becomes %2F). */
bool buf_segment(struct buf *b, const char *s, size_t n);
/* Appends a path whose '/' are kept and whose segments are each encoded. */
bool buf_path(struct buf *b, const char *s);

/* ------------------------------------------------------------ http.c */

/* Where and how to send requests. */
struct client {
    const char *server; /* base URL, as given (used in messages) */
    long timeout_ms;    /* 0: no timeout */
    bool verbose;       /* request line, status line and headers to stderr */
    const char *token;  /* bearer token (--token, $ASSETCTL_TOKEN), or NULL */
    const char *cacert; /* PEM CA certificates for https (NULL: the system's) */
};

/* Sets what every request to assetd shares (the bearer token). */
void client_setup(void *curl_handle, const struct client *cl);

/* One request. url and body are owned by the request. */
struct request {
    const char *method;
    struct buf url;
    struct buf body;      /* empty: no body; else JSON */
    const char *if_match; /* NULL, or a revision: 3, "3", W/"3" or * */
};

/* Sends rq and returns the answer's `data` (the whole answer when it has
 * none) in *data, a new reference. On failure prints the reason and
 * returns RC_FAIL (the server answered with an error, or nonsense) or
 * RC_UNREACHABLE (no answer). */
int http_exchange(const struct client *cl, const struct request *rq, json_t **data);
/* Like http_exchange, but a 404 answer is no error: *missing is set, *data
 * is NULL, nothing is printed and RC_OK returned. */
int http_exchange_404(const struct client *cl, const struct request *rq, json_t **data,
                      bool *missing);
/* Applies cl's TLS settings (the --cacert file) to a handle. */
void client_setup_tls(CURL *h, const struct client *cl);
/* Prints why a transfer got no answer ("cannot reach SERVER: REASON", with
 * a hint when the server's certificate did not verify) and returns
 * RC_UNREACHABLE. */
int report_unreachable(const struct client *cl, CURLcode res, const char *errbuf);

/* -------------------------------------------------------- transfer.c */

struct xfer_opts {
    bool wait;     /* upload: poll the job until it ends */
    bool progress; /* progress bars even when stderr is not a terminal */
};

/* POST /zip/upload of the zip at path (multipart field "file"); prints the
 * answer, or with o->wait the job's final status (RC_FAIL if it failed). */
int cmd_upload(const struct client *cl, const struct xfer_opts *o, const char *path);
/* GET /zip/status/ID, printed. */
int cmd_status(const struct client *cl, const char *upload_id);
/* GET /zip/download/ID into out_path (NULL: ID.zip), resuming a partial
 * download; prints the file's name. */
int cmd_download(const struct client *cl, const struct xfer_opts *o, const char *id,
                 const char *out_path);

/* ----------------------------------------------------------- apply.c */

/* How data is printed: -o json (default), table, yaml. */
enum output { OUT_DEFAULT, OUT_JSON, OUT_TABLE, OUT_YAML };

/* apply -f FILE: creates or updates every manifest of FILE ('-': stdin),
 * buckets first; prints "<resource>/<name> created|configured|unchanged". */
int cmd_apply(const struct client *cl, const char *path);
/* delete -f FILE: deletes every manifest's resource, assets first. */
int cmd_delete_file(const struct client *cl, const char *path);
/* get assets|asset|buckets|bucket [NAME]: a NAME PHASE REASON AGE table,
 * or the documents as JSON or YAML. */
int cmd_get_resources(const struct client *cl, const char *kind, const char *name, enum output out);
/* wait asset|bucket NAME --for=PHASE: polls until the resource's status
 * (of its current generation) has that phase, for at most wait_ms (0:
 * no limit). */
int cmd_wait(const struct client *cl, const char *kind, const char *name, const char *cond,
             long wait_ms);
/* Prints v as YAML to stdout. */
int print_yaml(const json_t *v);
/* Reads all of path ('-': stdin, named "<stdin>") into b; prints why not. */
int read_input(const char *path, struct buf *b);

/* ----------------------------------------------------------- table.c */

/* Prints assets (an array of them, or one) to stdout as an aligned table:
 * ASSET_ID, VERSION, TYPE, SUB_TYPE, TAGS, FILES, DESCRIPTION. */
int print_table(const json_t *assets);

#endif
