/*
 * test_cli_yaml.c — unit tests of assetctl's YAML/JSON manifest reader and
 * YAML writer (src/cli/yaml.c): core-schema typing, several documents,
 * anchors and aliases with their limits, depth, size and document limits,
 * errors with line and column, JSON input, and write-then-read round trips.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/yaml.h"

/* Loads text; returns the documents (NULL on error, err filled). */
static json_t *load(const char *text, struct yml_error *err)
{
    json_t *docs = NULL;
    struct yml_error e;
    if (!err) err = &e;
    if (yml_load(text, strlen(text), NULL, &docs, err)) return NULL;
    return docs;
}

/* True when text loads to exactly the JSON documents in want (a JSON array). */
static bool loads_as(const char *text, const char *want)
{
    struct yml_error err;
    json_t *docs = load(text, &err), *w = json_loads(want, 0, NULL);
    bool ok = docs && w && json_equal(docs, w);
    if (!ok) {
        char *got = docs ? json_dumps(docs, JSON_COMPACT) : NULL;
        fprintf(stderr, "  input %s\n  got %s (error %d:%d %s)\n  want %s\n", text,
                got ? got : "(null)", err.line, err.column, docs ? "" : err.text, want);
        free(got);
    }
    json_decref(docs);
    json_decref(w);
    return ok;
}

/* True when text fails at line:col with a message containing what. */
static bool fails_at(const char *text, int line, int col, const char *what)
{
    struct yml_error err;
    json_t *docs = load(text, &err);
    bool ok = !docs && err.line == line && err.column == col && strstr(err.text, what);
    if (!ok)
        fprintf(stderr, "  input %s\n  got %s at %d:%d: %s\n", text, docs ? "success" : "error",
                err.line, err.column, err.text);
    json_decref(docs);
    return ok;
}

static void test_core_schema(void)
{
    CHECK(loads_as("a: 1\nb: -2\nc: 0o17\nd: 0x1F\ne: +3\n",
                   "[{\"a\":1,\"b\":-2,\"c\":15,\"d\":31,\"e\":3}]"),
          "integers");
    CHECK(loads_as("a: 1.5\nb: .5\nc: 1e3\nd: -2.5E-1\ne: 1.\n",
                   "[{\"a\":1.5,\"b\":0.5,\"c\":1000.0,\"d\":-0.25,\"e\":1.0}]"),
          "floats");
    CHECK(loads_as("a: true\nb: False\nc: null\nd: ~\ne:\nf: NULL\n",
                   "[{\"a\":true,\"b\":false,\"c\":null,\"d\":null,\"e\":null,\"f\":null}]"),
          "booleans and nulls");
    CHECK(loads_as("a: yes\nb: 'true'\nc: \"1\"\nd: 0b1\ne: 1_000\nf: 2024-01-01\ng: 12:30\n",
                   "[{\"a\":\"yes\",\"b\":\"true\",\"c\":\"1\",\"d\":\"0b1\",\"e\":\"1_000\","
                   "\"f\":\"2024-01-01\",\"g\":\"12:30\"}]"),
          "strings stay strings (YAML 1.2, quoted)");
    CHECK(loads_as("a: !!str 1\nb: !!int \"7\"\nc: !!float 2\nd: !!bool true\n",
                   "[{\"a\":\"1\",\"b\":7,\"c\":2.0,\"d\":true}]"),
          "explicit core tags");
    CHECK(loads_as("1: a\ntrue: b\nnull: c\n", "[{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\"}]"),
          "keys are their text");
    CHECK(loads_as("text: |\n  line one\n  line two\nfold: >\n  a\n  b\n",
                   "[{\"text\":\"line one\\nline two\\n\",\"fold\":\"a b\\n\"}]"),
          "block scalars");
    CHECK(loads_as("s: \"caf\\u00e9 \\t\"\n", "[{\"s\":\"caf\\u00e9 \\t\"}]"), "escapes");
}

static void test_documents(void)
{
    CHECK(loads_as("a: 1\n---\nb: 2\n---\n", "[{\"a\":1},{\"b\":2}]"), "two documents");
    CHECK(loads_as("---\n---\n# only a comment\n---\nx: [1, {y: z}]\n...\n",
                   "[{\"x\":[1,{\"y\":\"z\"}]}]"),
          "empty documents are left out");
    CHECK(loads_as("", "[]"), "empty stream");
    CHECK(loads_as("- a\n- b\n", "[[\"a\",\"b\"]]"), "a sequence document");
}

static void test_json_input(void)
{
    CHECK(loads_as("  {\"kind\": \"Bucket\", \"n\": 1.5}", "[{\"kind\":\"Bucket\",\"n\":1.5}]"),
          "one JSON object");
    CHECK(loads_as("\n[{\"a\": 1}, null, {\"b\": [true]}]\n", "[{\"a\":1},{\"b\":[true]}]"),
          "a JSON array is a list of documents");
    CHECK(loads_as("\xEF\xBB\xBF{\"a\": 1}", "[{\"a\":1}]"), "JSON after a byte order mark");
    CHECK(loads_as("\xEF\xBB\xBF%YAML 1.2\n---\na: 1\n", "[{\"a\":1}]"),
          "YAML after a byte order mark, with a directive");
    CHECK(fails_at("{\n  \"a\": 1,\n  \"a\": 2\n}", 3, 5, "duplicate"), "JSON duplicate key");
    CHECK(fails_at("{\"a\": [1,\n 2,,]}", 2, 4, "invalid JSON"), "JSON syntax error");
}

static void test_errors(void)
{
    CHECK(fails_at("a: 1\nb: [1, 2\nc: 3\n", 3, 2, "flow sequence"), "unclosed flow sequence");
    CHECK(fails_at("a: b: c\n", 1, 5, "mapping values are not allowed"), "mapping in a scalar");
    CHECK(fails_at("a: 1\na: 2\n", 2, 4, "duplicate key \"a\""), "duplicate key");
    CHECK(fails_at("x: .inf\n", 1, 4, "no JSON form"), "infinity");
    CHECK(fails_at("x: 99999999999999999999\n", 1, 4, "out of range"), "integer too large");
    CHECK(fails_at("x: 1e999\n", 1, 4, "out of range"), "float too large");
    CHECK(fails_at("x: \"a\\0b\"\n", 1, 4, "NUL"), "NUL character");
    CHECK(fails_at("x: !custom 1\n", 1, 4, "unsupported tag !custom"), "custom tag");
    CHECK(fails_at("x: !!int abc\n", 1, 4, "not a valid !!int"), "bad !!int");
    CHECK(fails_at("x: !!binary aGk=\n", 1, 4, "unsupported tag"), "!!binary");
    CHECK(fails_at("? [a]\n: b\n", 1, 3, "mapping key must be a scalar"), "complex key");
    CHECK(fails_at("x: *nope\n", 1, 4, "names no complete anchor"), "unknown alias");
    CHECK(fails_at("x: &a [*a]\n", 1, 8, "names no complete anchor"), "recursive alias");
    CHECK(fails_at("a: &k 1\n*k : 2\n", 2, 1, "cannot be a mapping key"), "alias key");
    CHECK(fails_at("a: \"\xff\"\n", 1, 5, "invalid"), "invalid UTF-8");
    CHECK(fails_at("a: 1\n\tb: 2\n", 2, 1, "tab"), "tab indentation");
}

static void test_aliases_and_limits(void)
{
    CHECK(loads_as("base: &b {x: 1, y: [a]}\ncopy: *b\nname: &n hello\nn2: *n\n",
                   "[{\"base\":{\"x\":1,\"y\":[\"a\"]},\"copy\":{\"x\":1,\"y\":[\"a\"]},"
                   "\"name\":\"hello\",\"n2\":\"hello\"}]"),
          "aliases expand to copies");

    /* billion laughs: 9 levels of 10 aliases each */
    const char *lol =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    struct yml_error err;
    json_t *docs = load(lol, &err);
    CHECK(!docs && strstr(err.text, "once aliases are expanded (limit)") && err.line > 1,
          "billion laughs stopped: %d:%d %s", err.line, err.column, err.text);
    json_decref(docs);

    /* a long string copied many times hits the text limit */
    struct yml_limits lim = yml_default_limits;
    lim.max_text = 10000;
    char text[4096];
    int n = snprintf(text, sizeof text, "s: &s \"");
    for (int i = 0; i < 1000; i++) text[n++] = 'x';
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "\"\nl: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n");
    CHECK(yml_load(text, (size_t)n, &lim, &docs, &err) == -1 && strstr(err.text, "bytes of text"),
          "text limit: %s", err.text);

    lim = yml_default_limits;
    lim.max_depth = 3;
    CHECK(yml_load("a: {b: [c]}\n", 12, &lim, &docs, &err) == 0, "depth 3 accepted");
    json_decref(docs);
    CHECK(yml_load("a: {b: [[c]]}\n", 14, &lim, &docs, &err) == -1 && err.line == 1 &&
              err.column == 9 && strstr(err.text, "nested more than 3"),
          "depth 4 refused: %d:%d %s", err.line, err.column, err.text);
    CHECK(yml_load("[[[[1]]]]", 9, &lim, &docs, &err) == 0, "JSON documents of depth 3");
    json_decref(docs);
    CHECK(yml_load("[[[[[1]]]]]", 11, &lim, &docs, &err) == -1 && strstr(err.text, "nested"),
          "JSON depth refused");

    lim = yml_default_limits;
    lim.max_docs = 2;
    CHECK(yml_load("a: 1\n---\nb: 1\n", 14, &lim, &docs, &err) == 0, "2 documents accepted");
    json_decref(docs);
    CHECK(yml_load("a: 1\n---\nb: 1\n---\nc: 1\n", 23, &lim, &docs, &err) == -1 && err.line == 4 &&
              strstr(err.text, "more than 2 documents"),
          "3 documents refused: %d %s", err.line, err.text);

    lim = yml_default_limits;
    lim.max_bytes = 8;
    CHECK(yml_load("a: 123456\n", 10, &lim, &docs, &err) == -1 && err.line == 0 &&
              strstr(err.text, "larger than 8 bytes"),
          "size limit");

    /* deep nesting of flow sequences never reaches libyaml's own stack limits */
    static char deep[200001];
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    CHECK(load(deep, &err) == NULL && strstr(err.text, "depth"), "deep JSON: %s", err.text);
    deep[0] = ' ';
    deep[1] = 'x';
    deep[2] = ':';
    deep[3] = ' ';
    CHECK(load(deep, &err) == NULL, "deep YAML: %s", err.text);
}

/* Writes v as YAML, reads it back and checks it is equal; returns the text. */
static char *round_trip(const char *json)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL), *docs = NULL;
    char *text = NULL, errbuf[200];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(v && f, "setup");
    if (!v || !f) return NULL;
    CHECK(yml_dump(v, f, errbuf, sizeof errbuf) == 0, "dump: %s", errbuf);
    fclose(f);
    struct yml_error err;
    CHECK(yml_load(text, len, NULL, &docs, &err) == 0, "reload %s: %d:%d %s", text, err.line,
          err.column, err.text);
    CHECK(docs && json_equal(json_array_get(docs, 0), v), "round trip of %s gave\n%s", json, text);
    json_decref(docs);
    json_decref(v);
    return text;
}

static void test_writer(void)
{
    char *t = round_trip("{\"name\": \"docs\", \"n\": 3, \"f\": 0.1, \"ok\": true, \"none\": null,"
                         " \"list\": [1, \"two\", {\"x\": []}], \"empty\": {}}");
    CHECK_STR(t, "name: docs\n\"n\": 3\nf: 0.10000000000000001\nok: true\nnone: null\nlist:\n- 1\n"
                 "- two\n- x: []\nempty: {}\n");
    free(t);
    free(round_trip("{\"a\": \"true\", \"b\": \"1\", \"c\": \"\", \"d\": \"yes\", \"e\": \"null\","
                    " \"f\": \"0x1\", \"g\": \"1_000\", \"h\": \".5\", \"i\": \"-1\","
                    " \"j\": \"2024-01-01\", \"k\": \"~\", \"l\": \".inf\"}"));
    t = round_trip("{\"on\": \"off\"}");
    CHECK_STR(t, "\"on\": \"off\"\n");
    free(t);
    free(round_trip(
        "{\"multi\": \"line one\\nline two\\n\", \"lead\": \" x\", \"colon\": \"a: b\","
        " \"hash\": \"# x\", \"dash\": \"- x\", \"ctl\": \"\\u0001\\t\","
        " \"uni\": \"caf\\u00e9 \\u4e2d\", \"big\": 1e300, \"neg\": -9223372036854775807}"));
    free(round_trip("[[], [[1]], \"s\"]"));
    free(round_trip("\"just a string\""));
    t = round_trip("{\"u\": \"caf\\u00e9\"}");
    CHECK_STR(t, "u: café\n");
    free(t);
}

int main(void)
{
    test_core_schema();
    test_documents();
    test_json_input();
    test_errors();
    test_aliases_and_limits();
    test_writer();
    return check_summary("cli_yaml");
}
