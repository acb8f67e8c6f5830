/*
 * webhook_answer.h — the pure parts of the webhook calls (core/webhook.c),
 * apart so a fuzzer and unit tests reach them without a network: reading a
 * service's answer (untrusted bytes) and making file bytes fit for a JSON
 * string. Nothing here does I/O.
 */
#ifndef ASSETD_CORE_WEBHOOK_ANSWER_H
#define ASSETD_CORE_WEBHOOK_ANSWER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The deepest JSON a service may answer. */
#define AD_WEBHOOK_ANSWER_DEPTH 64

/* The message of a service's answer, for a user: the "message" string of
 * a JSON object body, else the body itself as text. Written to msg (cap
 * bytes, cap >= 1): valid UTF-8, control characters as spaces, trimmed,
 * cut at a character boundary. Empty when the body says nothing. */
void ad_webhook_answer_message(const char *body, size_t len, char *msg, size_t cap);

/* Reads a metadata service's 200 answer: {"data": [{"filePath": <name>,
 * "metadata": <json>}, ...]} (Rafter), or {"<name>": <json>, ...}. *out
 * (caller decrefs) is {"<name>": <json>} holding only names that are keys
 * of sent; an entry whose metadata is null or absent is left out. On a
 * malformed answer returns false with the reason in why (cap bytes). */
bool ad_webhook_answer_metadata(const char *body, size_t len, const json_t *sent, json_t **out,
                                char *why, size_t cap);

/* A JSON string of n bytes of file content: the bytes themselves when they
 * are UTF-8, else each byte that is not part of a valid character replaced
 * by U+FFFD (what Rafter's Go services would see). NULL on out of memory. */
json_t *ad_webhook_text(const char *s, size_t n);

#endif
