/*
 * err.h — the one error type of assetd.
 *
 * Every function that can fail returns an ad_code and, when given an
 * ad_error, writes a message that names what is wrong (a field, a path, an
 * operator). The code maps to an HTTP status and a stable machine-readable
 * name in exactly one place: ad_code_http_status()/ad_code_name() in err.c.
 */
#ifndef ASSETD_UTIL_ERR_H
#define ASSETD_UTIL_ERR_H

#include <stddef.h>

typedef enum ad_code {
    AD_OK = 0,
    AD_E_BAD_JSON,     /* 400 invalid_json: body is not well-formed JSON */
    AD_E_INVALID,      /* 400 validation_failed: JSON is fine, the document is not */
    AD_E_FILTER,       /* 400 invalid_filter: unknown operator, bad operand, over a limit */
    AD_E_BAD_REQUEST,  /* 400 bad_request: anything else the client got wrong */
    AD_E_EXISTS,       /* 400 already_exists (the seed answers 400 for duplicates) */
    AD_E_UNAUTHORIZED, /* 401 unauthorized: no token, or one nobody issued */
    AD_E_FORBIDDEN,    /* 403 forbidden: the token's role is not enough */
    AD_E_NOT_FOUND,    /* 404 not_found */
    AD_E_METHOD,       /* 405 method_not_allowed */
    AD_E_CONFLICT,     /* 409 conflict: the resource is in use (a bucket holding assets) */
    AD_E_PRECONDITION, /* 412 precondition_failed: If-Match did not match */
    AD_E_TOO_LARGE,    /* 413 payload_too_large */
    AD_E_URI_TOO_LONG, /* 414 uri_too_long */
    AD_E_MEDIA_TYPE,   /* 415 unsupported_media_type */
    AD_E_TOO_MANY,     /* 429 too_many_requests: a concurrency limit is reached */
    AD_E_BACKEND,      /* 500 backend_error: a store failed */
    AD_E_NOMEM,        /* 500 out_of_memory */
    AD_E_INTERNAL,     /* 500 internal */
    AD_E_UNAVAILABLE,  /* 503 unavailable: a backend cannot be reached */
    AD_CODE_COUNT
} ad_code;

/* Bounded message buffer: long messages are cut, never overflow. */
#define AD_ERROR_MSG_MAX 512

typedef struct ad_error {
    ad_code code;
    char msg[AD_ERROR_MSG_MAX];
} ad_error;

/* Records code and a printf-style message in e (which may be NULL) and
 * returns code, so callers can write `return ad_fail(e, AD_E_INVALID, ...)`. */
ad_code ad_fail(ad_error *e, ad_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes e->msg with "prefix" (used to add a path to a nested message). */
void ad_error_prefix(ad_error *e, const char *prefix);

/* Resets e to AD_OK with an empty message. */
void ad_error_clear(ad_error *e);

/* The HTTP status for a code (e.g. 400 for AD_E_INVALID). */
int ad_code_http_status(ad_code code);

/* The stable machine-readable name for a code (e.g. "already_exists"). */
const char *ad_code_name(ad_code code);

#endif
