/*
 * introspect.c — the introspection system (specification, section 4):
 * the __Schema, __Type, __Field, __InputValue, __EnumValue and
 * __Directive types, the __TypeKind and __DirectiveLocation enums, the
 * meta-fields __schema, __type and __typename, and their resolvers.
 *
 * The tables follow graphql-js v16.15 field for field, descriptions
 * included (tests/graphql compares our introspection of them with
 * graphql-js's own), so clients such as GraphiQL and buildClientSchema see
 * exactly the introspection schema they expect. Nothing in this schema is
 * deprecated, so the includeDeprecated arguments change nothing.
 */
#include <string.h>

#include "graphql/execute.h"
#include "graphql/schema.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Tentative definitions: the types refer to each other. */
static const gql_type schema_type, type_type, field_type, input_value_type, enum_value_type,
    directive_type, type_kind_type, directive_location_type;

/* ---- type references ---------------------------------------------------- */

static const gql_tref string_nn = {GQL_NON_NULL, &gql_type_string.ref, NULL};
static const gql_tref boolean_nn = {GQL_NON_NULL, &gql_type_boolean.ref, NULL};
static const gql_tref type_nn = {GQL_NON_NULL, &type_type.ref, NULL};
static const gql_tref type_list = {GQL_LIST, &type_nn, NULL};
static const gql_tref type_list_nn = {GQL_NON_NULL, &type_list, NULL};
static const gql_tref field_nn = {GQL_NON_NULL, &field_type.ref, NULL};
static const gql_tref field_list = {GQL_LIST, &field_nn, NULL};
static const gql_tref input_value_nn = {GQL_NON_NULL, &input_value_type.ref, NULL};
static const gql_tref input_value_list = {GQL_LIST, &input_value_nn, NULL};
static const gql_tref input_value_list_nn = {GQL_NON_NULL, &input_value_list, NULL};
static const gql_tref enum_value_nn = {GQL_NON_NULL, &enum_value_type.ref, NULL};
static const gql_tref enum_value_list = {GQL_LIST, &enum_value_nn, NULL};
static const gql_tref directive_nn = {GQL_NON_NULL, &directive_type.ref, NULL};
static const gql_tref directive_list = {GQL_LIST, &directive_nn, NULL};
static const gql_tref directive_list_nn = {GQL_NON_NULL, &directive_list, NULL};
static const gql_tref type_kind_nn = {GQL_NON_NULL, &type_kind_type.ref, NULL};
static const gql_tref location_nn = {GQL_NON_NULL, &directive_location_type.ref, NULL};
static const gql_tref location_list = {GQL_LIST, &location_nn, NULL};
static const gql_tref location_list_nn = {GQL_NON_NULL, &location_list, NULL};

static const gql_arg include_deprecated[] = {
    {"includeDeprecated", NULL, &gql_type_boolean.ref, "false"}};
static const gql_arg include_deprecated_nn[] = {{"includeDeprecated", NULL, &boolean_nn, "false"}};
static const gql_arg type_name_arg[] = {{"name", NULL, &string_nn, NULL}};

/* ---- small helpers ------------------------------------------------------ */

static ad_code str_or_null(gql_val *out, const char *s, ad_error *err)
{
    return gql_val_json(out, s ? json_string(s) : json_null(), err);
}

static ad_code boolean(gql_val *out, bool b, ad_error *err)
{
    return gql_val_json(out, json_boolean(b), err);
}

static ad_code null_value(gql_val *out)
{
    gql_val_ptr(out, NULL);
    return AD_OK;
}

static ad_code ptr_value(gql_val *out, const void *p)
{
    gql_val_ptr(out, p);
    return AD_OK;
}

/* schema->types holds type pointers; a __Type value is a type reference. */
static const void *named_ref(const void *elem)
{
    const gql_type *const *t = elem;
    return &(*t)->ref;
}

/* ---- __Schema ----------------------------------------------------------- */

enum { S_DESCRIPTION, S_TYPES, S_QUERY, S_MUTATION, S_SUBSCRIPTION, S_DIRECTIVES };

static ad_code resolve_schema(gql_exec *ex, const gql_val *parent, const gql_field *f,
                              const json_t *args, gql_val *out, ad_error *err)
{
    const gql_schema *s = parent->ptr;
    (void)ex, (void)args;
    switch (f->tag) {
    case S_DESCRIPTION:
        return str_or_null(out, s->description, err);
    case S_TYPES:
        return gql_val_array(out, s->types, s->ntypes, sizeof(*s->types), named_ref, err);
    case S_QUERY:
        return ptr_value(out, &s->query->ref);
    case S_DIRECTIVES:
        return gql_val_array(out, s->directives, s->ndirectives, sizeof(*s->directives), NULL, err);
    default:
        return null_value(out); /* no mutation or subscription type */
    }
}

#define FIELD(n, d, t, a, na, fn, tag)                                                             \
    {                                                                                              \
        n, d, t, a, na, fn, NULL, tag                                                              \
    }

static const gql_field schema_fields[] = {
    FIELD("description", NULL, &gql_type_string.ref, NULL, 0, resolve_schema, S_DESCRIPTION),
    FIELD("types", "A list of all types supported by this server.", &type_list_nn, NULL, 0,
          resolve_schema, S_TYPES),
    FIELD("queryType", "The type that query operations will be rooted at.", &type_nn, NULL, 0,
          resolve_schema, S_QUERY),
    FIELD("mutationType",
          "If this server supports mutation, the type that mutation operations will be rooted at.",
          &type_type.ref, NULL, 0, resolve_schema, S_MUTATION),
    FIELD("subscriptionType",
          "If this server support subscription, the type that subscription operations will be "
          "rooted at.",
          &type_type.ref, NULL, 0, resolve_schema, S_SUBSCRIPTION),
    FIELD("directives", "A list of all directives supported by this server.", &directive_list_nn,
          include_deprecated_nn, 1, resolve_schema, S_DIRECTIVES),
};

/* ---- __Type ------------------------------------------------------------- */

enum {
    T_KIND,
    T_NAME,
    T_DESCRIPTION,
    T_SPECIFIED_BY,
    T_FIELDS,
    T_INTERFACES,
    T_POSSIBLE,
    T_ENUM_VALUES,
    T_INPUT_FIELDS,
    T_OF_TYPE,
    T_IS_ONE_OF
};

static const char *const kind_names[] = {"SCALAR", "OBJECT",       "INTERFACE", "UNION",
                                         "ENUM",   "INPUT_OBJECT", "LIST",      "NON_NULL"};

static ad_code resolve_type(gql_exec *ex, const gql_val *parent, const gql_field *f,
                            const json_t *args, gql_val *out, ad_error *err)
{
    const gql_tref *r = parent->ptr;
    bool wrapper = r->kind == GQL_LIST || r->kind == GQL_NON_NULL;
    const gql_type *t = wrapper ? NULL : r->type;
    (void)ex, (void)args;
    switch (f->tag) {
    case T_KIND:
        return str_or_null(out, kind_names[r->kind], err);
    case T_NAME:
        return str_or_null(out, t ? t->name : NULL, err);
    case T_DESCRIPTION:
        return str_or_null(out, t ? t->description : NULL, err);
    case T_FIELDS:
        if (!t || t->kind != GQL_OBJECT) return null_value(out);
        return gql_val_array(out, t->fields, t->nfields, sizeof(*t->fields), NULL, err);
    case T_INTERFACES:
        if (!t || t->kind != GQL_OBJECT) return null_value(out);
        return gql_val_array(out, NULL, 0, 0, NULL, err);
    case T_ENUM_VALUES:
        if (!t || t->kind != GQL_ENUM) return null_value(out);
        return gql_val_array(out, t->values, t->nvalues, sizeof(*t->values), NULL, err);
    case T_OF_TYPE:
        return ptr_value(out, wrapper ? r->of : NULL);
    default:
        return null_value(out); /* no specifiedByURL, unions, input objects */
    }
}

static const gql_field type_fields[] = {
    FIELD("kind", NULL, &type_kind_nn, NULL, 0, resolve_type, T_KIND),
    FIELD("name", NULL, &gql_type_string.ref, NULL, 0, resolve_type, T_NAME),
    FIELD("description", NULL, &gql_type_string.ref, NULL, 0, resolve_type, T_DESCRIPTION),
    FIELD("specifiedByURL", NULL, &gql_type_string.ref, NULL, 0, resolve_type, T_SPECIFIED_BY),
    FIELD("fields", NULL, &field_list, include_deprecated, 1, resolve_type, T_FIELDS),
    FIELD("interfaces", NULL, &type_list, NULL, 0, resolve_type, T_INTERFACES),
    FIELD("possibleTypes", NULL, &type_list, NULL, 0, resolve_type, T_POSSIBLE),
    FIELD("enumValues", NULL, &enum_value_list, include_deprecated, 1, resolve_type, T_ENUM_VALUES),
    FIELD("inputFields", NULL, &input_value_list, include_deprecated, 1, resolve_type,
          T_INPUT_FIELDS),
    FIELD("ofType", NULL, &type_type.ref, NULL, 0, resolve_type, T_OF_TYPE),
    FIELD("isOneOf", NULL, &gql_type_boolean.ref, NULL, 0, resolve_type, T_IS_ONE_OF),
};

/* ---- __Field, __InputValue, __EnumValue --------------------------------- */

enum { F_NAME, F_DESCRIPTION, F_ARGS, F_TYPE, F_IS_DEPRECATED, F_DEPRECATION, F_DEFAULT };

static ad_code resolve_field(gql_exec *ex, const gql_val *parent, const gql_field *f,
                             const json_t *args, gql_val *out, ad_error *err)
{
    const gql_field *fd = parent->ptr;
    (void)ex, (void)args;
    switch (f->tag) {
    case F_NAME:
        return str_or_null(out, fd->name, err);
    case F_DESCRIPTION:
        return str_or_null(out, fd->description, err);
    case F_ARGS:
        return gql_val_array(out, fd->args, fd->nargs, sizeof(*fd->args), NULL, err);
    case F_TYPE:
        return ptr_value(out, fd->type);
    case F_IS_DEPRECATED:
        return boolean(out, false, err);
    default:
        return null_value(out);
    }
}

static ad_code resolve_input_value(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                   const json_t *args, gql_val *out, ad_error *err)
{
    const gql_arg *a = parent->ptr;
    (void)ex, (void)args;
    switch (f->tag) {
    case F_NAME:
        return str_or_null(out, a->name, err);
    case F_DESCRIPTION:
        return str_or_null(out, a->description, err);
    case F_TYPE:
        return ptr_value(out, a->type);
    case F_DEFAULT:
        return str_or_null(out, a->default_value, err);
    case F_IS_DEPRECATED:
        return boolean(out, false, err);
    default:
        return null_value(out);
    }
}

static ad_code resolve_enum_value(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                  const json_t *args, gql_val *out, ad_error *err)
{
    const gql_enum_value *v = parent->ptr;
    (void)ex, (void)args;
    switch (f->tag) {
    case F_NAME:
        return str_or_null(out, v->name, err);
    case F_DESCRIPTION:
        return str_or_null(out, v->description, err);
    case F_IS_DEPRECATED:
        return boolean(out, false, err);
    default:
        return null_value(out);
    }
}

static const gql_field field_fields[] = {
    FIELD("name", NULL, &string_nn, NULL, 0, resolve_field, F_NAME),
    FIELD("description", NULL, &gql_type_string.ref, NULL, 0, resolve_field, F_DESCRIPTION),
    FIELD("args", NULL, &input_value_list_nn, include_deprecated, 1, resolve_field, F_ARGS),
    FIELD("type", NULL, &type_nn, NULL, 0, resolve_field, F_TYPE),
    FIELD("isDeprecated", NULL, &boolean_nn, NULL, 0, resolve_field, F_IS_DEPRECATED),
    FIELD("deprecationReason", NULL, &gql_type_string.ref, NULL, 0, resolve_field, F_DEPRECATION),
};

static const gql_field input_value_fields[] = {
    FIELD("name", NULL, &string_nn, NULL, 0, resolve_input_value, F_NAME),
    FIELD("description", NULL, &gql_type_string.ref, NULL, 0, resolve_input_value, F_DESCRIPTION),
    FIELD("type", NULL, &type_nn, NULL, 0, resolve_input_value, F_TYPE),
    FIELD("defaultValue",
          "A GraphQL-formatted string representing the default value for this input value.",
          &gql_type_string.ref, NULL, 0, resolve_input_value, F_DEFAULT),
    FIELD("isDeprecated", NULL, &boolean_nn, NULL, 0, resolve_input_value, F_IS_DEPRECATED),
    FIELD("deprecationReason", NULL, &gql_type_string.ref, NULL, 0, resolve_input_value,
          F_DEPRECATION),
};

static const gql_field enum_value_fields[] = {
    FIELD("name", NULL, &string_nn, NULL, 0, resolve_enum_value, F_NAME),
    FIELD("description", NULL, &gql_type_string.ref, NULL, 0, resolve_enum_value, F_DESCRIPTION),
    FIELD("isDeprecated", NULL, &boolean_nn, NULL, 0, resolve_enum_value, F_IS_DEPRECATED),
    FIELD("deprecationReason", NULL, &gql_type_string.ref, NULL, 0, resolve_enum_value,
          F_DEPRECATION),
};

/* ---- __Directive -------------------------------------------------------- */

static const gql_enum_value location_values[GQL_DL_COUNT];

enum { D_NAME, D_DESCRIPTION, D_REPEATABLE, D_LOCATIONS, D_ARGS, D_IS_DEPRECATED, D_DEPRECATION };

static ad_code directive_locations(const gql_directive *d, gql_val *out, ad_error *err)
{
    json_t *a = json_array();
    for (int i = 0; a && i < GQL_DL_COUNT; i++) {
        if ((d->locations & GQL_DL_BIT(i)) &&
            json_array_append_new(a, json_string(location_values[i].name))) {
            json_decref(a);
            a = NULL;
        }
    }
    return gql_val_json(out, a, err);
}

static ad_code resolve_directive(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                 const json_t *args, gql_val *out, ad_error *err)
{
    const gql_directive *d = parent->ptr;
    (void)ex, (void)args;
    switch (f->tag) {
    case D_NAME:
        return str_or_null(out, d->name, err);
    case D_DESCRIPTION:
        return str_or_null(out, d->description, err);
    case D_REPEATABLE:
        return boolean(out, d->repeatable, err);
    case D_LOCATIONS:
        return directive_locations(d, out, err);
    case D_ARGS:
        return gql_val_array(out, d->args, d->nargs, sizeof(*d->args), NULL, err);
    case D_IS_DEPRECATED:
        return boolean(out, false, err);
    default:
        return null_value(out);
    }
}

static const gql_field directive_fields[] = {
    FIELD("name", NULL, &string_nn, NULL, 0, resolve_directive, D_NAME),
    FIELD("description", NULL, &gql_type_string.ref, NULL, 0, resolve_directive, D_DESCRIPTION),
    FIELD("isRepeatable", NULL, &boolean_nn, NULL, 0, resolve_directive, D_REPEATABLE),
    FIELD("locations", NULL, &location_list_nn, NULL, 0, resolve_directive, D_LOCATIONS),
    FIELD("args", NULL, &input_value_list_nn, include_deprecated, 1, resolve_directive, D_ARGS),
    FIELD("isDeprecated", NULL, &boolean_nn, NULL, 0, resolve_directive, D_IS_DEPRECATED),
    FIELD("deprecationReason", NULL, &gql_type_string.ref, NULL, 0, resolve_directive,
          D_DEPRECATION),
};

/* ---- enums -------------------------------------------------------------- */

static const gql_enum_value kind_values[] = {
    {"SCALAR", "Indicates this type is a scalar."},
    {"OBJECT", "Indicates this type is an object. `fields` and `interfaces` are valid fields."},
    {"INTERFACE", "Indicates this type is an interface. `fields`, `interfaces`, and "
                  "`possibleTypes` are valid fields."},
    {"UNION", "Indicates this type is a union. `possibleTypes` is a valid field."},
    {"ENUM", "Indicates this type is an enum. `enumValues` is a valid field."},
    {"INPUT_OBJECT", "Indicates this type is an input object. `inputFields` is a valid field."},
    {"LIST", "Indicates this type is a list. `ofType` is a valid field."},
    {"NON_NULL", "Indicates this type is a non-null. `ofType` is a valid field."},
};

static const gql_enum_value location_values[GQL_DL_COUNT] = {
    {"QUERY", "Location adjacent to a query operation."},
    {"MUTATION", "Location adjacent to a mutation operation."},
    {"SUBSCRIPTION", "Location adjacent to a subscription operation."},
    {"FIELD", "Location adjacent to a field."},
    {"FRAGMENT_DEFINITION", "Location adjacent to a fragment definition."},
    {"FRAGMENT_SPREAD", "Location adjacent to a fragment spread."},
    {"INLINE_FRAGMENT", "Location adjacent to an inline fragment."},
    {"VARIABLE_DEFINITION", "Location adjacent to a variable definition."},
    {"SCHEMA", "Location adjacent to a schema definition."},
    {"SCALAR", "Location adjacent to a scalar definition."},
    {"OBJECT", "Location adjacent to an object type definition."},
    {"FIELD_DEFINITION", "Location adjacent to a field definition."},
    {"ARGUMENT_DEFINITION", "Location adjacent to an argument definition."},
    {"INTERFACE", "Location adjacent to an interface definition."},
    {"UNION", "Location adjacent to a union definition."},
    {"ENUM", "Location adjacent to an enum definition."},
    {"ENUM_VALUE", "Location adjacent to an enum value definition."},
    {"INPUT_OBJECT", "Location adjacent to an input object type definition."},
    {"INPUT_FIELD_DEFINITION", "Location adjacent to an input object field definition."},
    {"DIRECTIVE_DEFINITION", "Location adjacent to a directive definition."},
};

/* ---- the types ---------------------------------------------------------- */

#define OBJECT_TYPE(var, nm, desc, fields)                                                         \
    static const gql_type var = {GQL_OBJECT,  nm,     desc,                                        \
                                 GQL_SC_NONE, fields, COUNT(fields),                               \
                                 NULL,        0,      {GQL_OBJECT, NULL, &var}}
#define ENUM_TYPE(var, nm, desc, values)                                                           \
    static const gql_type var = {GQL_ENUM, nm,     desc,          GQL_SC_NONE,           NULL,     \
                                 0,        values, COUNT(values), {GQL_ENUM, NULL, &var}}

OBJECT_TYPE(schema_type, "__Schema",
            "A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all "
            "available types and directives on the server, as well as the entry points for "
            "query, mutation, and subscription operations.",
            schema_fields);
OBJECT_TYPE(
    type_type, "__Type",
    "The fundamental unit of any GraphQL Schema is the type. There are many kinds of types in "
    "GraphQL as represented by the `__TypeKind` enum.\n\nDepending on the kind of a type, "
    "certain fields describe information about that type. Scalar types provide no information "
    "beyond a name, description and optional `specifiedByURL`, while Enum types provide their "
    "values. Object and Interface types provide the fields they describe. Abstract types, Union "
    "and Interface, provide the Object types possible at runtime. List and NonNull types compose "
    "other types.",
    type_fields);
OBJECT_TYPE(field_type, "__Field",
            "Object and Interface types are described by a list of Fields, each of which has a "
            "name, potentially a list of arguments, and a return type.",
            field_fields);
OBJECT_TYPE(input_value_type, "__InputValue",
            "Arguments provided to Fields or Directives and the input fields of an InputObject "
            "are represented as Input Values which describe their type and optionally a default "
            "value.",
            input_value_fields);
OBJECT_TYPE(enum_value_type, "__EnumValue",
            "One possible value for a given Enum. Enum values are unique values, not a "
            "placeholder for a string or numeric value. However an Enum value is returned in a "
            "JSON response as a string.",
            enum_value_fields);
OBJECT_TYPE(directive_type, "__Directive",
            "A Directive provides a way to describe alternate runtime execution and type "
            "validation behavior in a GraphQL document.\n\nIn some cases, you need to provide "
            "options to alter GraphQL's execution behavior in ways field arguments will not "
            "suffice, such as conditionally including or skipping a field. Directives provide "
            "this by describing additional information to the executor.",
            directive_fields);
ENUM_TYPE(type_kind_type, "__TypeKind", "An enum describing what kind of type a given `__Type` is.",
          kind_values);
ENUM_TYPE(directive_location_type, "__DirectiveLocation",
          "A Directive can be adjacent to many parts of the GraphQL language, a "
          "__DirectiveLocation describes one such possible adjacencies.",
          location_values);

const gql_type *const gql_introspection_types[] = {
    &schema_type,      &type_type,       &type_kind_type, &field_type,
    &input_value_type, &enum_value_type, &directive_type, &directive_location_type,
};
const size_t gql_nintrospection_types = COUNT(gql_introspection_types);

/* ---- meta-fields -------------------------------------------------------- */

static const gql_tref schema_nn = {GQL_NON_NULL, &schema_type.ref, NULL};

static ad_code resolve_meta_schema(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                   const json_t *args, gql_val *out, ad_error *err)
{
    (void)parent, (void)f, (void)args, (void)err;
    return ptr_value(out, gql_exec_schema(ex));
}

static ad_code resolve_meta_type(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                 const json_t *args, gql_val *out, ad_error *err)
{
    const char *name = json_string_value(json_object_get(args, "name"));
    const gql_type *t = name ? gql_schema_type(gql_exec_schema(ex), name) : NULL;
    (void)parent, (void)f, (void)err;
    return ptr_value(out, t ? &t->ref : NULL);
}

const gql_field gql_meta_schema =
    FIELD("__schema", "Access the current type schema of this server.", &schema_nn, NULL, 0,
          resolve_meta_schema, 0);
const gql_field gql_meta_type = FIELD("__type", "Request the type information of a single type.",
                                      &type_type.ref, type_name_arg, 1, resolve_meta_type, 0);
/* Resolved by the executor itself: it knows the object's type. */
const gql_field gql_meta_typename = FIELD(
    "__typename", "The name of the current Object type at runtime.", &string_nn, NULL, 0, NULL, 0);
