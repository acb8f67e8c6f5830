/*
 * testjson.h — JSON literals for C unit tests: js("{'a': [1, 'x']}") parses
 * single-quoted JSON, so test tables stay readable without escaping.
 */
#ifndef ASSETD_TESTS_TESTJSON_H
#define ASSETD_TESTS_TESTJSON_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses single-quoted JSON (any value). NULL if the test text is bad. */
static inline json_t *js(const char *text)
{
    size_t n = strlen(text);
    char *s = malloc(n + 1);
    json_error_t jerr;
    json_t *v;

    if (!s) return NULL;
    for (size_t i = 0; i <= n; i++) s[i] = text[i] == '\'' ? '"' : text[i];
    v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v) fprintf(stderr, "bad test JSON (%s): %s\n", jerr.text, s);
    free(s);
    return v;
}

#endif
