/*
 * err.c — error recording and the single table that maps an error code to
 * its HTTP status and stable name.
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int status;
    const char *name;
} code_table[AD_CODE_COUNT] = {
    [AD_OK] = {200, "ok"},
    [AD_E_BAD_JSON] = {400, "invalid_json"},
    [AD_E_INVALID] = {400, "validation_failed"},
    [AD_E_FILTER] = {400, "invalid_filter"},
    [AD_E_BAD_REQUEST] = {400, "bad_request"},
    [AD_E_EXISTS] = {400, "already_exists"},
    [AD_E_UNAUTHORIZED] = {401, "unauthorized"},
    [AD_E_FORBIDDEN] = {403, "forbidden"},
    [AD_E_NOT_FOUND] = {404, "not_found"},
    [AD_E_METHOD] = {405, "method_not_allowed"},
    [AD_E_CONFLICT] = {409, "conflict"},
    [AD_E_PRECONDITION] = {412, "precondition_failed"},
    [AD_E_TOO_LARGE] = {413, "payload_too_large"},
    [AD_E_URI_TOO_LONG] = {414, "uri_too_long"},
    [AD_E_MEDIA_TYPE] = {415, "unsupported_media_type"},
    [AD_E_TOO_MANY] = {429, "too_many_requests"},
    [AD_E_BACKEND] = {500, "backend_error"},
    [AD_E_NOMEM] = {500, "out_of_memory"},
    [AD_E_INTERNAL] = {500, "internal"},
    [AD_E_UNAVAILABLE] = {503, "unavailable"},
};

ad_code ad_fail(ad_error *e, ad_code code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void ad_error_prefix(ad_error *e, const char *prefix)
{
    char tmp[AD_ERROR_MSG_MAX];
    if (!e || !prefix || !*prefix) return;
    snprintf(tmp, sizeof(tmp), "%s%s", prefix, e->msg);
    memcpy(e->msg, tmp, sizeof(tmp));
}

void ad_error_clear(ad_error *e)
{
    if (!e) return;
    e->code = AD_OK;
    e->msg[0] = '\0';
}

int ad_code_http_status(ad_code code)
{
    if ((unsigned)code >= AD_CODE_COUNT) return 500;
    return code_table[code].status;
}

const char *ad_code_name(ad_code code)
{
    if ((unsigned)code >= AD_CODE_COUNT) return "internal";
    return code_table[code].name;
}
