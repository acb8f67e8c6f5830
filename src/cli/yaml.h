/*
 * yaml.h — assetctl's YAML (and JSON) manifest reader and its YAML writer,
 * on libyaml and jansson. Nothing here does I/O but yml_dump's FILE, so
 * the unit tests and the fuzz target link it alone (yaml.c + libyaml +
 * jansson, no libcurl).
 */
#ifndef ASSETCTL_YAML_H
#define ASSETCTL_YAML_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Bounds on hostile input; yml_default_limits holds the values assetctl
 * uses. */
struct yml_limits {
    size_t max_bytes; /* input size */
    int max_depth;    /* nesting of mappings and sequences */
    size_t max_docs;  /* documents in one stream (empty ones included) */
    size_t max_nodes; /* values built in the stream, alias expansions included */
    size_t max_text;  /* bytes of strings and keys built, alias expansions included */
};
extern const struct yml_limits yml_default_limits;

/* Why reading failed. line and column are 1-based; 0 when the problem has
 * no place (the input is too large, out of memory). */
struct yml_error {
    int line, column;
    char text[200];
};

/* Reads text (len bytes): a YAML stream of one or more documents
 * ("---"-separated), or JSON when its first non-blank byte is '{' or '['
 * (an object is one document, an array a list of documents). Scalars get
 * the types of the YAML 1.2 core schema (null, true/false, integers in
 * decimal, 0o octal and 0x hex, floats); quoted scalars and keys are
 * strings. Empty (null) documents are left out. On success *docs is a new
 * JSON array of the documents and 0 is returned; on failure -1 with err
 * filled and *docs NULL. Anchors and aliases are supported, each alias
 * expanded to a copy that counts against max_nodes (no "billion laughs");
 * merge keys ("<<") are not (YAML 1.2 has none). */
int yml_load(const char *text, size_t len, const struct yml_limits *lim, json_t **docs,
             struct yml_error *err);

/* Writes v as one YAML document (no "---" marker) to out with libyaml's
 * emitter: block style, empty containers as {} and [], strings that a
 * YAML 1.1 or 1.2 reader would take for another type quoted. 0, or -1 with
 * a message (at most errlen bytes) in errbuf. */
int yml_dump(const json_t *v, FILE *out, char *errbuf, size_t errlen);

/* True when plain text s (len bytes) would be read as something other than
 * a string by a YAML 1.2 core-schema reader or a YAML 1.1 one (yes, on,
 * 0b1, 1_000, 12:30, 2024-01-01, ...), so the writer must quote it. */
int yml_needs_quotes(const char *s, size_t len);

#endif
