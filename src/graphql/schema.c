/*
 * schema.c — the standard scalars and directives, the assembled schema,
 * and the lookups and type-reference rules of schema.h.
 *
 * Descriptions of the standard scalars and directives are graphql-js's
 * (v16), so tools that compare schemas see nothing unusual.
 */
#include "graphql/schema.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define SCALAR(var, nm, sc, desc)                                                                  \
    const gql_type var = {GQL_SCALAR, nm, desc, sc, NULL, 0, NULL, 0, {GQL_SCALAR, NULL, &var}}

SCALAR(gql_type_string, "String", GQL_SC_STRING,
       "The `String` scalar type represents textual data, represented as UTF-8 character "
       "sequences. The String type is most often used by GraphQL to represent free-form "
       "human-readable text.");
SCALAR(gql_type_int, "Int", GQL_SC_INT,
       "The `Int` scalar type represents non-fractional signed whole numeric values. Int can "
       "represent values between -(2^31) and 2^31 - 1.");
SCALAR(gql_type_float, "Float", GQL_SC_FLOAT,
       "The `Float` scalar type represents signed double-precision fractional values as "
       "specified by [IEEE 754](https://en.wikipedia.org/wiki/IEEE_floating_point).");
SCALAR(gql_type_boolean, "Boolean", GQL_SC_BOOLEAN,
       "The `Boolean` scalar type represents `true` or `false`.");
SCALAR(gql_type_id, "ID", GQL_SC_ID,
       "The `ID` scalar type represents a unique identifier, often used to refetch an object or "
       "as key for a cache. The ID type appears in a JSON response as a String; however, it is "
       "not intended to be human-readable. When expected as an input type, any string (such as "
       "`\"4\"`) or integer (such as `4`) input value will be accepted as an ID.");
SCALAR(gql_type_any, "GenericScalar", GQL_SC_ANY,
       "Any JSON value: an object, a list, a string, a number, a boolean or null. Objects keep "
       "their keys as stored (snake_case, e.g. `asset_sub_type`). As an argument it accepts "
       "any GraphQL literal: an object literal becomes a JSON object, a list a JSON array, an "
       "enum value a string.");

/* ---- directives --------------------------------------------------------- */

static const gql_tref boolean_nn = {GQL_NON_NULL, &gql_type_boolean.ref, NULL};
static const gql_tref string_nn = {GQL_NON_NULL, &gql_type_string.ref, NULL};

static const gql_arg include_args[] = {{"if", "Included when true.", &boolean_nn, NULL}};
static const gql_arg skip_args[] = {{"if", "Skipped when true.", &boolean_nn, NULL}};
static const gql_arg deprecated_args[] = {
    {"reason",
     "Explains why this element was deprecated, usually also including a suggestion for how to "
     "access supported similar data. Formatted using the Markdown syntax, as specified by "
     "[CommonMark](https://commonmark.org/).",
     &gql_type_string.ref, "\"No longer supported\""}};
static const gql_arg specified_by_args[] = {
    {"url", "The URL that specifies the behavior of this scalar.", &string_nn, NULL}};

#define EXEC_LOCS                                                                                  \
    (GQL_DL_BIT(GQL_DL_FIELD) | GQL_DL_BIT(GQL_DL_FRAGMENT_SPREAD) |                               \
     GQL_DL_BIT(GQL_DL_INLINE_FRAGMENT))

static const gql_directive directives[] = {
    {"include",
     "Directs the executor to include this field or fragment only when the `if` argument is "
     "true.",
     EXEC_LOCS, include_args, 1, false},
    {"skip", "Directs the executor to skip this field or fragment when the `if` argument is true.",
     EXEC_LOCS, skip_args, 1, false},
    {"deprecated", "Marks an element of a GraphQL schema as no longer supported.",
     GQL_DL_BIT(GQL_DL_FIELD_DEFINITION) | GQL_DL_BIT(GQL_DL_ARGUMENT_DEFINITION) |
         GQL_DL_BIT(GQL_DL_INPUT_FIELD_DEFINITION) | GQL_DL_BIT(GQL_DL_ENUM_VALUE) |
         GQL_DL_BIT(GQL_DL_DIRECTIVE_DEFINITION),
     deprecated_args, 1, false},
    {"specifiedBy", "Exposes a URL that specifies the behavior of this scalar.",
     GQL_DL_BIT(GQL_DL_SCALAR), specified_by_args, 1, false},
    {"oneOf", "Indicates exactly one field must be supplied and this field must not be `null`.",
     GQL_DL_BIT(GQL_DL_INPUT_OBJECT), NULL, 0, false},
};

/* ---- the schema --------------------------------------------------------- */

#define MAX_TYPES 32

static const gql_type *all_types[MAX_TYPES];
static gql_schema the_schema;
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void add_type(const gql_type *t)
{
    if (the_schema.ntypes < MAX_TYPES) all_types[the_schema.ntypes++] = t;
}

static void schema_build(void)
{
    gql_assets_init();
    the_schema.description =
        "assetd, an Assets Registry: read-only queries over the registered assets. Lists "
        "take `limit` and `skip`; a response's data is capped (8 MiB by default), past "
        "which a list field is null with an error asking for a smaller `limit`.";
    the_schema.query = &gql_type_query;
    add_type(&gql_type_query);
    add_type(&gql_type_asset);
    add_type(&gql_type_any);
    add_type(&gql_type_string);
    add_type(&gql_type_int);
    add_type(&gql_type_float);
    add_type(&gql_type_boolean);
    add_type(&gql_type_id);
    for (size_t i = 0; i < gql_nintrospection_types; i++) add_type(gql_introspection_types[i]);
    the_schema.types = all_types;
    the_schema.directives = directives;
    the_schema.ndirectives = COUNT(directives);
}

const gql_schema *gql_schema_get(void)
{
    pthread_once(&schema_once, schema_build);
    return &the_schema;
}

/* ---- lookups ------------------------------------------------------------ */

const gql_type *gql_schema_type(const gql_schema *s, const char *name)
{
    for (size_t i = 0; i < s->ntypes; i++)
        if (strcmp(s->types[i]->name, name) == 0) return s->types[i];
    return NULL;
}

const gql_directive *gql_schema_directive(const gql_schema *s, const char *name)
{
    for (size_t i = 0; i < s->ndirectives; i++)
        if (strcmp(s->directives[i].name, name) == 0) return &s->directives[i];
    return NULL;
}

const gql_field *gql_field_of(const gql_schema *s, const gql_type *t, const char *name)
{
    if (!t || t->kind != GQL_OBJECT) return NULL;
    if (name[0] == '_' && name[1] == '_') {
        if (strcmp(name, "__typename") == 0) return &gql_meta_typename;
        if (t == s->query && strcmp(name, "__schema") == 0) return &gql_meta_schema;
        if (t == s->query && strcmp(name, "__type") == 0) return &gql_meta_type;
    }
    for (size_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0) return &t->fields[i];
    return NULL;
}

const gql_arg *gql_arg_of(const gql_arg *args, size_t nargs, const char *name)
{
    for (size_t i = 0; i < nargs; i++)
        if (strcmp(args[i].name, name) == 0) return &args[i];
    return NULL;
}

const gql_enum_value *gql_enum_value_of(const gql_type *t, const char *name)
{
    if (!t || t->kind != GQL_ENUM) return NULL;
    for (size_t i = 0; i < t->nvalues; i++)
        if (strcmp(t->values[i].name, name) == 0) return &t->values[i];
    return NULL;
}

/* ---- type references ---------------------------------------------------- */

const gql_type *gql_named(const gql_tref *r)
{
    while (r && (r->kind == GQL_LIST || r->kind == GQL_NON_NULL)) r = r->of;
    return r ? r->type : NULL;
}

bool gql_is_leaf(const gql_type *t)
{
    return t && (t->kind == GQL_SCALAR || t->kind == GQL_ENUM);
}

bool gql_is_composite(const gql_type *t)
{
    return t && (t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE || t->kind == GQL_UNION);
}

bool gql_is_input(const gql_type *t)
{
    return t && (t->kind == GQL_SCALAR || t->kind == GQL_ENUM || t->kind == GQL_INPUT_OBJECT);
}

static void print_into(const gql_tref *r, char *out, size_t outsz, size_t *n)
{
    const char *s;
    if (r->kind == GQL_LIST) {
        if (*n + 1 < outsz) out[(*n)++] = '[';
        print_into(r->of, out, outsz, n);
        s = "]";
    } else if (r->kind == GQL_NON_NULL) {
        print_into(r->of, out, outsz, n);
        s = "!";
    } else {
        s = r->type ? r->type->name : "?";
    }
    for (; *s && *n + 1 < outsz; s++) out[(*n)++] = *s;
}

void gql_tref_print(const gql_tref *r, char *out, size_t outsz)
{
    size_t n = 0;
    if (!outsz) return;
    if (r) print_into(r, out, outsz, &n);
    out[n] = '\0';
}

bool gql_tref_equal(const gql_tref *a, const gql_tref *b)
{
    while (a && b && a->kind == b->kind && (a->kind == GQL_LIST || a->kind == GQL_NON_NULL)) {
        a = a->of;
        b = b->of;
    }
    if (!a || !b) return a == b;
    if (a->kind == GQL_LIST || a->kind == GQL_NON_NULL || b->kind == GQL_LIST ||
        b->kind == GQL_NON_NULL)
        return false;
    return a->type == b->type;
}

bool gql_tref_fits(const gql_tref *sub, const gql_tref *super)
{
    if (super->kind == GQL_NON_NULL)
        return sub->kind == GQL_NON_NULL && gql_tref_fits(sub->of, super->of);
    if (sub->kind == GQL_NON_NULL) return gql_tref_fits(sub->of, super);
    if (super->kind == GQL_LIST) return sub->kind == GQL_LIST && gql_tref_fits(sub->of, super->of);
    if (sub->kind == GQL_LIST) return false;
    return sub->type == super->type;
}
