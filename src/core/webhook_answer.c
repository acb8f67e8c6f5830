/*
 * webhook_answer.c — reading what a validation, mutation or metadata
 * service answers, and making file bytes fit for the JSON requests (see
 * webhook_answer.h).
 *
 * A service's answer is untrusted bytes: it arrives bounded by
 * --webhook-max-response (core/webhook.c stops reading past it), JSON goes
 * through ad_json_parse (depth bound, duplicate keys and bad UTF-8
 * refused), and a message taken from it is cleaned before it reaches a
 * status or a log line (valid UTF-8 only, no control characters, cut to the
 * buffer). fuzz/fuzz_webhook.c runs all three functions on random bytes.
 */
#include "core/webhook_answer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/str.h"

/* Bytes of the UTF-8 sequence that starts with c, 0 if c cannot start one. */
static size_t seq_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* The length of the valid character at s[0..n), 0 if there is none. */
static size_t valid_char(const char *s, size_t n)
{
    size_t k = seq_len((unsigned char)s[0]);
    if (k == 0 || k > n) return 0;
    return ad_utf8_valid(s, k) ? k : 0;
}

static void clean_text(const char *in, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < n && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')) i++;
    while (i < n) {
        size_t k = valid_char(in + i, n - i);
        if (k == 0) { /* a stray byte */
            if (o + 1 >= cap) break;
            out[o++] = '?';
            i++;
        } else if (k == 1) {
            unsigned char c = (unsigned char)in[i];
            if (o + 1 >= cap) break;
            out[o++] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
            i++;
        } else {
            if (o + k >= cap) break;
            memcpy(out + o, in + i, k);
            o += k;
            i += k;
        }
    }
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = '\0';
}

void ad_webhook_answer_message(const char *body, size_t len, char *msg, size_t cap)
{
    json_t *j = NULL;
    ad_error e = {0};
    if (!cap) return;
    msg[0] = '\0';
    if (!body || !len) return;
    if (ad_json_parse(body, len, AD_WEBHOOK_ANSWER_DEPTH, &j, &e) == AD_OK) {
        json_t *m = json_is_object(j) ? json_object_get(j, "message") : NULL;
        if (json_is_string(m)) {
            clean_text(json_string_value(m), json_string_length(m), msg, cap);
            json_decref(j);
            return;
        }
        json_decref(j);
    }
    clean_text(body, len, msg, cap);
}

/* Adds name → md to out when name was sent and md says something. */
static bool keep(json_t *out, const json_t *sent, const char *name, json_t *md)
{
    if (!md || json_is_null(md) || !json_object_get(sent, name)) return true;
    return json_object_set(out, name, md) == 0;
}

bool ad_webhook_answer_metadata(const char *body, size_t len, const json_t *sent, json_t **out,
                                char *why, size_t cap)
{
    json_t *j = NULL, *res, *data;
    ad_error e = {0};
    *out = NULL;
    if (ad_json_parse(body, len, AD_WEBHOOK_ANSWER_DEPTH, &j, &e) != AD_OK) {
        snprintf(why, cap, "answer is not JSON: %s", e.msg);
        return false;
    }
    if (!json_is_object(j)) {
        snprintf(why, cap, "answer is not a JSON object");
        json_decref(j);
        return false;
    }
    if (!(res = json_object())) {
        snprintf(why, cap, "out of memory");
        json_decref(j);
        return false;
    }
    data = json_object_get(j, "data");
    if (json_is_array(data) && json_object_size(j) == 1) { /* Rafter's shape */
        size_t i;
        json_t *item;
        json_array_foreach(data, i, item)
        {
            json_t *fp = json_is_object(item) ? json_object_get(item, "filePath") : NULL;
            if (!json_is_object(item)) {
                snprintf(why, cap, "data[%zu] is not an object", i);
                goto fail;
            }
            if (!json_is_string(fp)) {
                snprintf(why, cap, "data[%zu].filePath is missing or not a string", i);
                goto fail;
            }
            if (!keep(res, sent, json_string_value(fp), json_object_get(item, "metadata"))) {
                snprintf(why, cap, "out of memory");
                goto fail;
            }
        }
    } else {
        const char *name;
        json_t *md;
        json_object_foreach(j, name, md)
        {
            if (!keep(res, sent, name, md)) {
                snprintf(why, cap, "out of memory");
                goto fail;
            }
        }
    }
    json_decref(j);
    *out = res;
    return true;
fail:
    json_decref(res);
    json_decref(j);
    return false;
}

json_t *ad_webhook_text(const char *s, size_t n)
{
    static const char repl[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    char *buf;
    size_t i = 0, o = 0;
    json_t *j;
    if (!s) s = "";
    if (ad_utf8_valid(s, n)) return json_stringn(s, n);
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    if (!(buf = malloc(n * 3 + 1))) return NULL;
    while (i < n) {
        size_t k = valid_char(s + i, n - i);
        if (k == 0) {
            memcpy(buf + o, repl, 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j;
}
