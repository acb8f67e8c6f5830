/*
 * assetsrv.h — starting tests/servers/assetsrv.py (the local source-file
 * and webhook server of the asset store's tests) from a C unit test, and
 * talking to its control routes (/_requests, PUT /files/<name>).
 *
 * assetsrv_start returns 77 (the CTest skip code) with the reason on
 * stderr when python3 is missing, so a test can `return` it. The server
 * runs in a temporary directory, watches this process (--parent-pid) and
 * is stopped by assetsrv_stop.
 */
#ifndef ASSETD_TESTS_ASSETSRV_H
#define ASSETD_TESTS_ASSETSRV_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct assetsrv {
    pid_t pid;
    int port;
    char dir[256]; /* temporary; holds files/ (the fixtures) */
    char base[64]; /* http://127.0.0.1:PORT */
} assetsrv;

/* 0 when the server answers; 77 when python3 is missing; 1 on failure. */
int assetsrv_start(assetsrv *s);
void assetsrv_stop(assetsrv *s);

/* base + path into out. */
const char *assetsrv_url(const assetsrv *s, const char *path, char *out, size_t cap);

/* GET /_requests[?kind=K] (NULL: all); caller decrefs. */
json_t *assetsrv_requests(const assetsrv *s, const char *kind);
/* DELETE /_requests. */
void assetsrv_clear(const assetsrv *s);
/* PUT /files/<name> with len bytes; HTTP status or -1. */
long assetsrv_put_file(const assetsrv *s, const char *name, const void *data, size_t len);
/* The bytes of a fixture as the server holds it (malloc'd), or NULL. */
char *assetsrv_fixture(const assetsrv *s, const char *name, size_t *len);

#endif
