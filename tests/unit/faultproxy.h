/*
 * faultproxy.h — a TCP relay on 127.0.0.1 in front of a real server (Ceph
 * RGW in test_blob_s3.c) that injects the failures a client must survive:
 * answering the next connections with HTTP 503 SlowDown instead of
 * relaying them, and cutting connections once a number of bytes has gone
 * through in one direction. Everything else is relayed byte for byte (so
 * SigV4 signatures, which cover the Host header, still verify).
 */
#ifndef ASSETD_TESTS_FAULTPROXY_H
#define ASSETD_TESTS_FAULTPROXY_H

#include <stdint.h>

typedef struct faultproxy faultproxy;

/* Starts relaying 127.0.0.1:<new free port> to 127.0.0.1:upstream_port;
 * NULL on failure. */
faultproxy *faultproxy_start(int upstream_port);
int faultproxy_port(const faultproxy *p);
/* The next n connections get "503 SlowDown" (and are closed). */
void faultproxy_fail_next(faultproxy *p, int n);
/* The next n connections (new or kept alive) whose bytes relayed from the
 * server to the client (s2c) or from the client to the server (!s2c),
 * counted from this call, pass after_bytes are cut there (0: before the
 * first byte). */
void faultproxy_cut_next(faultproxy *p, int n, uint64_t after_bytes, int s2c);
/* Connections accepted, answered 503, and cut so far. */
void faultproxy_counts(faultproxy *p, int *accepted, int *failed, int *cut);
/* Stops, closes every connection and frees p. */
void faultproxy_stop(faultproxy *p);

#endif
