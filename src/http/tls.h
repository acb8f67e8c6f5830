/*
 * tls.h — loading and checking the server's TLS certificate and key
 * (internal to src/http). libmicrohttpd (GnuTLS) does the TLS itself; this
 * reads the two PEM files and checks them first, so that a wrong file is a
 * clear start-up error instead of a failed daemon start.
 */
#ifndef ASSETD_HTTP_TLS_H
#define ASSETD_HTTP_TLS_H

#include <stddef.h>

#include "util/err.h"

#define HTTP_TLS_FILE_MAX (1024 * 1024) /* bytes of a certificate chain or key file */

typedef struct http_tls_pem {
    char *cert; /* NUL-terminated PEM: the certificate, then any chain */
    char *key;  /* NUL-terminated PEM: the private key (unencrypted) */
    size_t key_len;
} http_tls_pem;

/* Reads cert_file and key_file and checks that the first is a PEM
 * certificate (chain), the second an unencrypted PEM private key, and that
 * the key belongs to the certificate. AD_E_BAD_REQUEST naming the file and
 * the problem otherwise. Logs a warning for a certificate outside its
 * validity period. Free with http_tls_pem_free. */
ad_code http_tls_load(const char *cert_file, const char *key_file, http_tls_pem *out,
                      ad_error *err);
/* Wipes the key from memory and frees both. */
void http_tls_pem_free(http_tls_pem *p);

#endif
