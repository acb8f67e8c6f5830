/*
 * ast.h — the syntax tree of an executable GraphQL document (the
 * specification's "Document" restricted to operations and fragments).
 *
 * Every node lives in the request's arena (arena.h) and carries the line
 * and column where it starts, for error messages. Sequences (selections,
 * arguments, directives, list items, ...) are singly linked through
 * `next`, in document order. Names are NUL-terminated; string values carry
 * their length because "\u0000" may put a NUL inside one.
 */
#ifndef ASSETD_GRAPHQL_AST_H
#define ASSETD_GRAPHQL_AST_H

#include <stdbool.h>
#include <stddef.h>

/* 1-based line and column (in characters, i.e. Unicode code points). */
typedef struct gql_loc {
    unsigned line, col;
} gql_loc;

typedef enum gql_value_kind {
    GQL_V_VARIABLE, /* str = the variable's name, without '$' */
    GQL_V_INT,      /* str = the literal's text ("-12") */
    GQL_V_FLOAT,    /* str = the literal's text ("1.5e3") */
    GQL_V_STRING,   /* str/len = the decoded value (block strings dedented) */
    GQL_V_BOOLEAN,  /* boolean */
    GQL_V_NULL,
    GQL_V_ENUM,   /* str = the name */
    GQL_V_LIST,   /* items */
    GQL_V_OBJECT, /* fields */
} gql_value_kind;

typedef struct gql_value gql_value;
typedef struct gql_object_field gql_object_field;

struct gql_value {
    gql_value_kind kind;
    gql_loc loc;
    const char *str;
    size_t len;
    bool boolean;
    bool block;               /* STRING: written as a block string */
    gql_value *items;         /* LIST */
    gql_object_field *fields; /* OBJECT */
    gql_value *next;          /* the next item of the enclosing list */
};

struct gql_object_field {
    const char *name; /* may hold any character when quoted */
    size_t name_len;
    bool quoted; /* written as a string: the quoted-keys extension */
    gql_loc loc;
    gql_value *value;
    gql_object_field *next;
};

typedef struct gql_argument {
    const char *name;
    gql_loc loc;
    gql_value *value;
    struct gql_argument *next;
} gql_argument;

typedef struct gql_directive_node {
    const char *name;
    gql_loc loc;
    gql_argument *args;
    struct gql_directive_node *next;
} gql_directive_node;

typedef enum gql_type_node_kind { GQL_T_NAMED, GQL_T_LIST, GQL_T_NON_NULL } gql_type_node_kind;

/* A type as written in a variable definition: String, [Int!]!, ... */
typedef struct gql_type_node {
    gql_type_node_kind kind;
    const char *name;         /* NAMED */
    struct gql_type_node *of; /* LIST, NON_NULL */
    gql_loc loc;
} gql_type_node;

typedef struct gql_selection_set gql_selection_set;

typedef enum gql_sel_kind { GQL_SEL_FIELD, GQL_SEL_SPREAD, GQL_SEL_INLINE } gql_sel_kind;

typedef struct gql_selection {
    gql_sel_kind kind;
    gql_loc loc;
    const char *alias;     /* FIELD: the alias, or NULL */
    const char *name;      /* FIELD: the field; SPREAD: the fragment */
    gql_argument *args;    /* FIELD */
    const char *type_cond; /* INLINE: "on T", or NULL */
    gql_loc type_cond_loc;
    gql_directive_node *directives;
    gql_selection_set *set; /* FIELD (NULL when absent), INLINE */
    struct gql_selection *next;
} gql_selection;

struct gql_selection_set {
    gql_loc loc;
    gql_selection *first;
};

typedef struct gql_var_def {
    const char *name; /* without '$' */
    gql_loc loc;
    gql_type_node *type;
    gql_value *default_value; /* or NULL */
    gql_directive_node *directives;
    struct gql_var_def *next;
} gql_var_def;

typedef enum gql_op_kind { GQL_OP_QUERY, GQL_OP_MUTATION, GQL_OP_SUBSCRIPTION } gql_op_kind;

typedef enum gql_def_kind { GQL_DEF_OPERATION, GQL_DEF_FRAGMENT } gql_def_kind;

typedef struct gql_definition {
    gql_def_kind kind;
    gql_loc loc;
    gql_op_kind op;        /* OPERATION */
    const char *name;      /* OPERATION: NULL when anonymous; FRAGMENT: its name */
    gql_var_def *vars;     /* OPERATION */
    const char *type_cond; /* FRAGMENT */
    gql_loc type_cond_loc;
    gql_directive_node *directives;
    gql_selection_set *set;
    struct gql_definition *next;
} gql_definition;

typedef struct gql_document {
    gql_definition *defs;
    size_t ndefs;
    size_t nfields;  /* fields as written */
    size_t naliases; /* aliased fields */
    size_t ntokens;
} gql_document;

/* The response key of a field: its alias, or its name. */
static inline const char *gql_response_key(const gql_selection *f)
{
    return f->alias ? f->alias : f->name;
}

/* "query", "mutation" or "subscription". */
const char *gql_op_name(gql_op_kind k);

#endif
