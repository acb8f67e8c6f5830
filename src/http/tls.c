/*
 * tls.c — reads and checks the TLS certificate and key (see tls.h).
 *
 * libmicrohttpd hands the PEM text to GnuTLS when the daemon starts and
 * only says "failed" when something is wrong. We parse both files first
 * with OpenSSL's libcrypto, which assetd already links for SHA-256, to tell
 * the operator which file is wrong and how: missing, unreadable, not PEM,
 * an encrypted key (there is nobody to type a passphrase), or a key that
 * does not belong to the certificate. The PEM text itself is what the
 * daemon gets, so there is no conversion that could differ from the file.
 */
#include "http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/log.h"

/* Reads the whole of path (a regular file of at most HTTP_TLS_FILE_MAX
 * bytes) into a new NUL-terminated buffer. what names it in messages. */
static ad_code read_file(const char *what, const char *path, char **out, size_t *len, ad_error *err)
{
    struct stat st;
    size_t got = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL;
    if (fd < 0) return ad_fail(err, AD_E_BAD_REQUEST, "TLS %s %s: %s", what, path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > HTTP_TLS_FILE_MAX) {
        close(fd);
        return ad_fail(err, AD_E_BAD_REQUEST, "TLS %s %s: not a regular file of at most %d bytes",
                       what, path, HTTP_TLS_FILE_MAX);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            OPENSSL_cleanse(buf, got);
            free(buf);
            close(fd);
            return ad_fail(err, AD_E_BAD_REQUEST, "TLS %s %s: %s", what, path, strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return AD_OK;
}

/* A passphrase callback that has no passphrase: OpenSSL would otherwise
 * prompt on the terminal for an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static void warn_validity(const char *path, X509 *cert)
{
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        ad_log(AD_LOG_WARN, "msg=\"the TLS certificate has expired\" file=\"%s\"", path);
    else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        ad_log(AD_LOG_WARN, "msg=\"the TLS certificate is not valid yet\" file=\"%s\"", path);
}

/* Parses both PEM texts and checks that they belong together. */
static ad_code check_pair(const char *cert_file, const char *key_file, const http_tls_pem *p,
                          ad_error *err)
{
    BIO *cb = BIO_new_mem_buf(p->cert, -1), *kb = BIO_new_mem_buf(p->key, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, no_passphrase, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL) : NULL;
    ad_code rc = AD_OK;
    if (!cb || !kb)
        rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    else if (!cert)
        rc = ad_fail(err, AD_E_BAD_REQUEST,
                     "TLS certificate %s: no PEM certificate in it (a BEGIN CERTIFICATE block)",
                     cert_file);
    else if (!key && strstr(p->key, "ENCRYPTED"))
        rc = ad_fail(err, AD_E_BAD_REQUEST,
                     "TLS key %s: the key is encrypted; give an unencrypted key (for example "
                     "openssl pkey -in %s -out plain.key) and protect the file instead",
                     key_file, key_file);
    else if (!key)
        rc = ad_fail(err, AD_E_BAD_REQUEST,
                     "TLS key %s: no PEM private key in it (a BEGIN PRIVATE KEY block)", key_file);
    else if (X509_check_private_key(cert, key) != 1)
        rc = ad_fail(err, AD_E_BAD_REQUEST,
                     "TLS key %s does not belong to the certificate %s (their public keys differ)",
                     key_file, cert_file);
    else
        warn_validity(cert_file, cert);
    ERR_clear_error(); /* leave nothing in this thread's OpenSSL error queue */
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

ad_code http_tls_load(const char *cert_file, const char *key_file, http_tls_pem *out, ad_error *err)
{
    size_t cert_len;
    ad_code rc;
    memset(out, 0, sizeof(*out));
    rc = read_file("certificate", cert_file, &out->cert, &cert_len, err);
    if (!rc) rc = read_file("key", key_file, &out->key, &out->key_len, err);
    if (!rc) rc = check_pair(cert_file, key_file, out, err);
    if (rc) http_tls_pem_free(out);
    return rc;
}

void http_tls_pem_free(http_tls_pem *p)
{
    if (p->key) OPENSSL_cleanse(p->key, p->key_len);
    free(p->key);
    free(p->cert);
    memset(p, 0, sizeof(*p));
}
