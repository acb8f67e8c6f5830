/*
 * test_graphql_validate.c — validation of documents against assetd's
 * schema (src/graphql/validate*.c): for every rule a document that breaks
 * it (with the message expected) and one that keeps it, then the limits
 * of the expanded document (fields and depth through fragments).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "graphql/arena.h"
#include "graphql/errors.h"
#include "graphql/parser.h"
#include "graphql/schema.h"
#include "graphql/validate.h"

typedef struct vcase {
    const char *doc;
    const char *error; /* NULL: the document is valid; else a part of the first message */
} vcase;

static const vcase cases[] = {
    /* fields exist, on the right type */
    {"{ getAssetById(assetId: \"a\") { assetId } }", NULL},
    {"{ nope }", "Cannot query field \"nope\" on type \"Query\"."},
    {"{ getAssetById(assetId: \"a\") { asset_id } }",
     "Cannot query field \"asset_id\" on type \"Asset\"."},
    {"{ __typename getAssetById(assetId: \"a\") { __typename } }", NULL},
    {"{ getAssetById(assetId: \"a\") { __schema { queryType { name } } } }",
     "Cannot query field \"__schema\" on type \"Asset\"."},
    /* leaf field selections */
    {"{ getAssetById(assetId: \"a\") { assetId { x } } }",
     "must not have a selection since type \"String!\" has no subfields"},
    {"{ getAssetById(assetId: \"a\") }",
     "Field \"getAssetById\" of type \"Asset\" must have a selection of subfields"},
    {"{ getAssetById(assetId: \"a\") { profiles } }", NULL},
    {"{ getAssetById(assetId: \"a\") { profiles { asset_type } } }", "no subfields"},
    {"{ __schema }", "of type \"__Schema!\" must have a selection"},
    /* arguments: known, unique, required, of the right type */
    {"{ getAssetById(id: \"a\") { assetId } }",
     "Unknown argument \"id\" on field \"Query.getAssetById\"."},
    {"{ getAssetById(assetId: \"a\", assetId: \"b\") { assetId } }",
     "There can be only one argument named \"assetId\"."},
    {"{ getAssetById { assetId } }", "Field \"Query.getAssetById\" argument \"assetId\" of type "
                                     "\"String!\" is required, but it was not provided."},
    {"{ getAssetById(assetId: null) { assetId } }",
     "Expected value of type \"String!\", found null."},
    {"{ getAssetById(assetId: 1) { assetId } }",
     "Expected value of type \"String!\", found 1; String cannot represent a non string value: 1"},
    {"{ getAssetById(assetId: ENUM) { assetId } }",
     "String cannot represent a non string value: ENUM"},
    {"{ getAssetById(assetId: [\"a\"]) { assetId } }",
     "String cannot represent a non string value: [\"a\"]"},
    {"{ getAssetById(assetId: \"\"\"block\"\"\") { assetId } }", NULL},
    {"{ getAssetsByType(assetType: \"m\", limit: \"1\") { assetId } }",
     "Int cannot represent non-integer value: \"1\""},
    {"{ getAssetsByType(assetType: \"m\", limit: 1.0) { assetId } }",
     "Int cannot represent non-integer value: 1.0"},
    {"{ getAssetsByType(assetType: \"m\", limit: 2147483648) { assetId } }",
     "Int cannot represent non 32-bit signed integer value: 2147483648"},
    {"{ getAssetsByType(assetType: \"m\", limit: -2147483648, skip: 2147483647) { assetId } }",
     NULL},
    {"{ getAssetsByType(assetType: \"m\", limit: null) { assetId } }", NULL},
    {"{ __type(name: \"Asset\") { fields(includeDeprecated: 1) { name } } }",
     "Boolean cannot represent a non boolean value: 1"},
    {"{ searchAssets(filters: {a: [1, {b: ENUM}], c: \"x\", d: null, e: 1.5}) { assetId } }", NULL},
    {"{ searchAssets(filters: 12) { assetId } }", NULL},
    {"{ searchAssets(filters: {a: 1, a: 2}) { assetId } }",
     "There can be only one input field named \"a\"."},
    {"{ searchAssets(filters: {a: {b: 1, b: 2}}) { assetId } }",
     "There can be only one input field named \"b\"."},
    {"{ searchAssets(filters: {\"a.b\": 1, \"a.b\": 2}) { assetId } }",
     "There can be only one input field named \"a.b\"."},
    /* directives */
    {"{ __typename @include(if: true) @skip(if: false) }", NULL},
    {"{ __typename @nope }", "Unknown directive \"@nope\"."},
    {"query @skip(if: true) { __typename }", "Directive \"@skip\" may not be used on QUERY."},
    {"{ __typename @deprecated }", "Directive \"@deprecated\" may not be used on FIELD."},
    {"{ __typename @include(if: true) @include(if: false) }",
     "The directive \"@include\" can only be used once at this location."},
    {"{ __typename @include }",
     "Directive \"@include\" argument \"if\" of type \"Boolean!\" is required"},
    {"{ __typename @include(if: true, unless: false) }",
     "Unknown argument \"unless\" on directive \"@include\"."},
    {"{ __typename @skip(if: \"yes\") }", "Boolean cannot represent a non boolean value: \"yes\""},
    {"query ($a: Int @include(if: true)) { getAssetsByTag(tag: \"t\", limit: $a) { assetId } }",
     "may not be used on VARIABLE_DEFINITION"},
    {"{ ...F } fragment F on Query @skip(if: true) { __typename }",
     "may not be used on FRAGMENT_DEFINITION"},
    /* operations */
    {"query A { __typename } query B { __typename }", NULL},
    {"query A { __typename } query A { __typename }",
     "There can be only one operation named \"A\"."},
    {"{ __typename } query B { __typename }",
     "This anonymous operation must be the only defined operation."},
    {"mutation { __typename }", "mutation operations are not supported"},
    {"subscription S { __typename }", "subscription operations are not supported"},
    /* fragments */
    {"{ ...F } fragment F on Query { __typename }", NULL},
    {"{ ...Nope }", "Unknown fragment \"Nope\"."},
    {"{ __typename } fragment F on Query { __typename }", "Fragment \"F\" is never used."},
    {"{ ...F } fragment F on Query { __typename } fragment F on Query { __typename }",
     "There can be only one fragment named \"F\"."},
    {"{ ...F } fragment F on Nope { __typename }", "Unknown type \"Nope\"."},
    {"{ ...F } fragment F on String { __typename }",
     "Fragment \"F\" cannot condition on non composite type \"String\"."},
    {"{ ... on String { __typename } }",
     "Fragment cannot condition on non composite type \"String\"."},
    {"{ ... on Nope { __typename } }", "Unknown type \"Nope\"."},
    {"{ ...F } fragment F on Asset { assetId }",
     "Fragment \"F\" cannot be spread here as objects of type \"Query\" can never be of type "
     "\"Asset\"."},
    {"{ ... on Asset { assetId } }",
     "Fragment cannot be spread here as objects of type \"Query\" can never be of type \"Asset\"."},
    {"{ ... on Query { __typename } ... { __typename } }", NULL},
    {"{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
     "Cannot spread fragment \"A\" within itself."},
    {"{ ...A } fragment A on Query { __typename ...A }",
     "Cannot spread fragment \"A\" within itself."},
    {"{ getAssetById(assetId: \"a\") { ...A } } fragment A on Asset { ...B } fragment B on Asset { "
     "assetId }",
     NULL},
    /* variables */
    {"query ($id: String!) { getAssetById(assetId: $id) { assetId } }", NULL},
    {"query { getAssetById(assetId: $id) { assetId } }", "Variable \"$id\" is not defined."},
    {"query Q { getAssetById(assetId: $id) { assetId } }",
     "Variable \"$id\" is not defined by operation \"Q\"."},
    {"query Q { ...F } fragment F on Query { getAssetById(assetId: $id) { assetId } }",
     "Variable \"$id\" is not defined by operation \"Q\"."},
    {"query Q($id: String!) { ...F } fragment F on Query { getAssetById(assetId: $id) { assetId } "
     "}",
     NULL},
    {"query ($id: String!) { __typename }", "Variable \"$id\" is never used."},
    {"query Q($id: String!) { __typename }", "Variable \"$id\" is never used in operation \"Q\"."},
    {"query ($a: Int, $a: Int) { getAssetsByTag(tag: \"t\", limit: $a) { assetId } }",
     "There can be only one variable named \"$a\"."},
    {"query ($a: Asset) { searchAssets(filters: $a) { assetId } }",
     "Variable \"$a\" cannot be non-input type \"Asset\"."},
    {"query ($a: [Nope!]) { searchAssets(filters: $a) { assetId } }", "Unknown type \"Nope\"."},
    {"query ($a: __TypeKind = OBJECT) { searchAssets(filters: {k: $a}) { assetId } }", NULL},
    {"query ($a: __TypeKind = TABLE) { searchAssets(filters: {k: $a}) { assetId } }",
     "Value \"TABLE\" does not exist in \"__TypeKind\" enum."},
    {"query ($a: Int = \"x\") { getAssetsByTag(tag: \"t\", limit: $a) { assetId } }",
     "Int cannot represent non-integer value: \"x\""},
    {"query ($a: Int! = null) { getAssetsByTag(tag: \"t\", limit: $a) { assetId } }",
     "Expected value of type \"Int!\", found null."},
    {"query ($id: Int!) { getAssetById(assetId: $id) { assetId } }",
     "Variable \"$id\" of type \"Int!\" used in position expecting type \"String!\"."},
    {"query ($id: String) { getAssetById(assetId: $id) { assetId } }",
     "Variable \"$id\" of type \"String\" used in position expecting type \"String!\"."},
    {"query ($id: String = \"a\") { getAssetById(assetId: $id) { assetId } }", NULL},
    {"query ($id: String = null) { getAssetById(assetId: $id) { assetId } }",
     "used in position expecting type \"String!\""},
    {"query ($id: [String]) { getAssetById(assetId: $id) { assetId } }",
     "of type \"[String]\" used in position expecting type \"String!\""},
    {"query ($n: Int!) { getAssetsByTag(tag: \"t\", limit: $n) { assetId } }", NULL},
    {"query ($b: Boolean) { __typename @include(if: $b) }",
     "of type \"Boolean\" used in position expecting type \"Boolean!\""},
    {"query ($d: Boolean) { __type(name: \"Asset\") { fields(includeDeprecated: $d) { name } } }",
     NULL},
    {"query ($v: Int) { searchAssets(filters: {a: [$v]}) { assetId } }", NULL},
    {"query { searchAssets(filters: {a: [$v]}) { assetId } }", "Variable \"$v\" is not defined."},
    /* field selection merging */
    {"{ getAssetById(assetId: \"a\") { assetId } getAssetById(assetId: \"a\") { assetUri } }",
     NULL},
    {"{ getAssetById(assetId: \"a\") { assetId } getAssetById(assetId: \"b\") { assetId } }",
     "Fields \"getAssetById\" conflict because they have differing arguments."},
    {"{ x: __typename x: __schema { description } }",
     "Fields \"x\" conflict because \"__typename\" and \"__schema\" are different fields."},
    {"{ getAssetById(assetId: \"a\") { x: assetId x: assetUri } }",
     "\"assetId\" and \"assetUri\" are different fields"},
    {"{ getAssetById(assetId: \"a\") { x: assetId ... { x: assetId } } }", NULL},
    {"{ getAssetById(assetId: \"a\") { x: assetId ...F } } fragment F on Asset { x: assetUri }",
     "Fields \"x\" conflict"},
    {"{ a: getAssetById(assetId: \"a\") { x: assetId } a: getAssetById(assetId: \"a\") { x: "
     "assetUri } }",
     "subfields \"x\" conflict because \"assetId\" and \"assetUri\" are different fields"},
    {"{ __type(name: \"Asset\") { t: name t: description } }",
     "\"name\" and \"description\" are different fields"},
    {"{ searchAssets(filters: {a: [1, {b: 2}]}) { assetId } searchAssets(filters: {a: [1, {b: "
     "2}]}) { assetUri } }",
     NULL},
    {"{ searchAssets(filters: {a: 1}) { assetId } searchAssets(filters: {a: 2}) { assetUri } }",
     "differing arguments"},
    /* introspection depth (graphql-js's MaxIntrospectionDepthRule) */
    {"{ __schema { types { fields { type { name } } } } }", NULL},
    {"{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
     "Maximum introspection depth exceeded"},
    {"{ __type(name: \"Asset\") { ...F } } fragment F on __Type { fields { type { fields { type { "
     "fields { name } } } } } }",
     "Maximum introspection depth exceeded"},
};

static void test_cases(void)
{
    const gql_schema *s = gql_schema_get();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gql_arena a;
        gql_document *doc;
        gql_parse_error perr;
        gql_errors errs;
        ad_code rc;
        gql_arena_init(&a, GQL_MAX_AST_BYTES);
        gql_errors_init(&errs, GQL_MAX_ERRORS);
        rc = gql_parse(cases[i].doc, strlen(cases[i].doc), gql_limits_default(), true, &a, &doc,
                       &perr);
        CHECK(rc == AD_OK, "%s: does not parse: %s", cases[i].doc, perr.msg);
        if (!rc) rc = gql_validate(s, doc, gql_limits_default(), &a, &errs);
        if (!cases[i].error) {
            CHECK(rc == AD_OK, "%s: want valid, got \"%s\"", cases[i].doc,
                  errs.n ? errs.v[0].message : "?");
        } else {
            CHECK(rc == AD_E_BAD_REQUEST && errs.n > 0, "%s: want invalid", cases[i].doc);
            CHECK(errs.n > 0 && strstr(errs.v[0].message, cases[i].error) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", cases[i].doc, errs.n ? errs.v[0].message : "",
                  cases[i].error);
            CHECK(errs.n > 0 && errs.v[0].nlocs > 0 && errs.v[0].locs[0].line == 1,
                  "%s: the error has a location", cases[i].doc);
        }
        gql_errors_free(&errs);
        gql_arena_free(&a);
    }
}

/* Validates doc under lim; returns the first message ("" if valid). */
static const char *validate_with(const char *doc, const gql_limits *lim, char *out, size_t n)
{
    gql_arena a;
    gql_document *d;
    gql_parse_error perr;
    gql_errors errs;
    gql_arena_init(&a, lim->ast_bytes);
    gql_errors_init(&errs, GQL_MAX_ERRORS);
    out[0] = '\0';
    if (gql_parse(doc, strlen(doc), lim, true, &a, &d, &perr))
        snprintf(out, n, "parse: %s", perr.msg);
    else if (gql_validate(gql_schema_get(), d, lim, &a, &errs) && errs.n)
        snprintf(out, n, "%s", errs.v[0].message);
    gql_errors_free(&errs);
    gql_arena_free(&a);
    return out;
}

static void test_expanded_limits(void)
{
    gql_limits lim = *gql_limits_default();
    char msg[GQL_ERROR_MSG_MAX];
    /* B and B2 hold one field each; A and A2 spread both: 4 once expanded */
    const char *doc =
        "{ ...A ...A2 } fragment A on Query { ...B ...B2 } fragment A2 on Query { ...B "
        "...B2 } fragment B on Query { a: __typename } fragment B2 on Query { b: "
        "__typename }";
    lim.expanded = 3;
    validate_with(doc, &lim, msg, sizeof(msg));
    CHECK(strstr(msg, "more than 3 fields once its fragments are expanded") != NULL, "got \"%s\"",
          msg);
    lim.expanded = 4;
    CHECK(strcmp(validate_with(doc, &lim, msg, sizeof(msg)), "") == 0, "4 fields fit: %s", msg);
    /* depth through fragments: 2 as written per definition, 4 once expanded */
    lim = *gql_limits_default();
    lim.depth = 3;
    doc = "{ __schema { ...T } } fragment T on __Schema { types { ...F } } "
          "fragment F on __Type { fields { name } }";
    validate_with(doc, &lim, msg, sizeof(msg));
    CHECK(strstr(msg, "nested deeper than 3 levels once its fragments are expanded") != NULL,
          "got \"%s\"", msg);
    lim.depth = 4;
    CHECK(strcmp(validate_with(doc, &lim, msg, sizeof(msg)), "") == 0, "depth 4 fits: %s", msg);
    /* an exponential fragment chain is measured, not expanded */
    {
        char big[4096];
        size_t n = (size_t)snprintf(big, sizeof(big), "{ ...F0 }");
        for (int i = 0; i < 40; i++)
            n += (size_t)snprintf(big + n, sizeof(big) - n,
                                  " fragment F%d on Query { ...F%d a%d: __typename ...F%d }", i,
                                  i + 1, i, i + 1);
        snprintf(big + n, sizeof(big) - n, " fragment F40 on Query { __typename }");
        validate_with(big, gql_limits_default(), msg, sizeof(msg));
        CHECK(strstr(msg, "more than 5000 fields once its fragments are expanded") != NULL,
              "2^40 fields: got \"%s\"", msg);
    }
}

/* A long chain of fragments selecting the same field is valid, and cheap:
 * interchangeable fields are compared once, fragments found by binary
 * search and marked per walk. */
static void test_fragment_chain(void)
{
    static char doc[60000];
    size_t n = (size_t)snprintf(doc, sizeof(doc), "{ ...F0 }");
    char msg[GQL_ERROR_MSG_MAX];
    gql_limits lim = *gql_limits_default();
    for (int i = 0; i < 900; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n,
                              " fragment F%d on Query { __typename ...F%d }", i, i + 1);
    snprintf(doc + n, sizeof(doc) - n, " fragment F900 on Query { __typename }");
    CHECK(strcmp(validate_with(doc, &lim, msg, sizeof(msg)), "") == 0, "a chain of 900: %s", msg);
    /* the same chain closed into a cycle */
    snprintf(doc + n, sizeof(doc) - n, " fragment F900 on Query { ...F0 }");
    validate_with(doc, &lim, msg, sizeof(msg));
    CHECK(strstr(msg, "within itself") != NULL, "a cycle of 901: %s", msg);
}

static void test_error_cap(void)
{
    char doc[8192];
    size_t n = (size_t)snprintf(doc, sizeof(doc), "{");
    gql_arena a;
    gql_document *d;
    gql_parse_error perr;
    gql_errors errs;
    json_t *list;
    for (int i = 0; i < 150; i++) n += (size_t)snprintf(doc + n, sizeof(doc) - n, " f%d", i);
    snprintf(doc + n, sizeof(doc) - n, " }");
    gql_arena_init(&a, GQL_MAX_AST_BYTES);
    gql_errors_init(&errs, GQL_MAX_ERRORS);
    CHECK(gql_parse(doc, strlen(doc), gql_limits_default(), true, &a, &d, &perr) == AD_OK,
          "150 unknown fields parse");
    CHECK(gql_validate(gql_schema_get(), d, gql_limits_default(), &a, &errs) == AD_E_BAD_REQUEST,
          "150 unknown fields are invalid");
    CHECK(errs.n == GQL_MAX_ERRORS && errs.dropped == 50, "kept %zu, dropped %zu", errs.n,
          errs.dropped);
    list = gql_errors_json(&errs);
    CHECK(json_array_size(list) == GQL_MAX_ERRORS + 1, "the list says how many were left out");
    CHECK(
        strstr(json_string_value(json_object_get(json_array_get(list, GQL_MAX_ERRORS), "message")),
               "50 more errors") != NULL,
        "last entry");
    json_decref(list);
    gql_errors_free(&errs);
    gql_arena_free(&a);
}

int main(void)
{
    test_cases();
    test_expanded_limits();
    test_fragment_chain();
    test_error_cap();
    return check_summary("test_graphql_validate");
}
