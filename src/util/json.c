/*
 * json.c — client JSON parsing with limits (see json.h).
 */
#include "util/json.h"

#include <string.h>

/* Scans for the deepest nesting of [ and { outside strings. Stops early once
 * the limit is passed, reporting where. Malformed input is left to jansson. */
static ad_code check_depth(const char *buf, size_t len, size_t max_depth, ad_error *err)
{
    size_t depth = 0, line = 1, col = 0, i;
    int in_str = 0, esc = 0;
    for (i = 0; i < len; i++) {
        char c = buf[i];
        col++;
        if (c == '\n') line++, col = 0;
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return ad_fail(err, AD_E_BAD_JSON,
                               "invalid JSON at line %zu column %zu: nesting deeper than %zu "
                               "levels",
                               line, col, max_depth);
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return AD_OK;
}

ad_code ad_json_parse(const char *buf, size_t len, size_t max_depth, json_t **out, ad_error *err)
{
    json_error_t je;
    json_t *j;
    ad_code rc;
    *out = NULL;
    if (len == 0) return ad_fail(err, AD_E_BAD_JSON, "invalid JSON: the body is empty");
    rc = check_depth(buf, len, max_depth, err);
    if (rc) return rc;
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j)
        return ad_fail(err, AD_E_BAD_JSON, "invalid JSON at line %d column %d: %s", je.line,
                       je.column, je.text);
    *out = j;
    return AD_OK;
}

char *ad_json_dump(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (s && len) *len = strlen(s);
    return s;
}
