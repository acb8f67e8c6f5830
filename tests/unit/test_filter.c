/*
 * test_filter.c — unit tests of the filter language (core/filter.c): a table
 * of {document, filter, expected match} rows covering MongoDB's matching
 * semantics, a table of {filter, expected error} rows for parse errors, the
 * hostile-input limits (filters built programmatically), the regex match
 * limit, and the shape of the tree that store adapters compile.
 *
 * JSON in the tables is written with single quotes for readability; js()
 * turns them into double quotes before parsing (no test value needs an
 * apostrophe).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "testjson.h"
#include "core/filter.h"

/* An asset in the seed's shape. */
#define ASSET                                                                                      \
    "{'asset_id': 'a1', 'asset_version': 'v1', 'asset_container_uri': null,"                       \
    " 'profiles': [{'asset_type': 'model', 'asset_sub_type': 'llm',"                               \
    "               'asset_tags': ['gen', 'nlp']},"                                                \
    "              {'asset_type': 'data', 'asset_sub_type': 'image', 'asset_tags': []}],"          \
    " 'files': [{'asset_file_id': 'f1', 'size': 10}, {'asset_file_id': 'f2', 'size': 2000}],"      \
    " 'apis': [{'route': '/api/v1/generate', 'method': 'POST'}]}"

static const struct match_case {
    const char *doc;
    const char *filter;
    int want;
} match_cases[] = {
    /* implicit equality on scalars, several fields = AND */
    {ASSET, "{'asset_id': 'a1'}", 1},
    {ASSET, "{'asset_id': 'a2'}", 0},
    {ASSET, "{'asset_version': 'v1', 'profiles.asset_type': 'model'}", 1},
    {ASSET, "{'asset_version': 'v2', 'profiles.asset_type': 'model'}", 0},
    {ASSET, "{}", 1},
    {ASSET, "{'nope': 'x'}", 0},
    {ASSET, "{'asset_container_uri': null}", 1},
    /* dotted paths through arrays of objects */
    {ASSET, "{'profiles.asset_type': 'data'}", 1},
    {ASSET, "{'profiles.asset_type': 'tool'}", 0},
    {ASSET, "{'profiles.asset_tags': 'nlp'}", 1},
    {ASSET, "{'apis.route': '/api/v1/generate'}", 1},
    {ASSET, "{'files.asset_file_id': 'f2'}", 1},
    {ASSET, "{'profiles.asset_type': 'model', 'profiles.asset_sub_type': 'image'}", 1},
    {"{'a': [{'b': [{'c': 1}]}]}", "{'a.b.c': 1}", 1},
    {"{'a': [{'b': [{'c': 1}]}]}", "{'a.b.c': 2}", 0},
    {"{'a': 5}", "{'a.b': 5}", 0},
    {"{'a': 'str'}", "{'a.0': 's'}", 0},
    /* numeric path parts: array index and field name */
    {ASSET, "{'files.0.asset_file_id': 'f1'}", 1},
    {ASSET, "{'files.1.asset_file_id': 'f1'}", 0},
    {ASSET, "{'files.1.size': 2000}", 1},
    {ASSET, "{'files.2.asset_file_id': 'f1'}", 0},
    {ASSET, "{'files.01.asset_file_id': 'f1'}", 0},
    {"{'a': {'0': 'x'}}", "{'a.0': 'x'}", 1},
    {"{'a': [{'0': 'x'}, 'y']}", "{'a.0': 'x'}", 1},
    {"{'a': [{'0': 'x'}, 'y']}", "{'a.1': 'y'}", 1},
    {"{'a': ['x', 'y']}", "{'a.1': 'y'}", 1},
    {"{'a': ['x', 'y']}", "{'a.1': 'x'}", 0},
    {"{'a': [[1, 2], [3]]}", "{'a.0': [1, 2]}", 1},
    {"{'a': [[1, 2], [3]]}", "{'a.0': 1}", 0},
    {"{'a': [[{'b': 1}], [{'b': 2}]]}", "{'a.1.b': 2}", 1},
    {"{'a': [[{'b': 1}], [{'b': 2}]]}", "{'a.1.b': 1}", 0},
    {"{'a': [[{'b': 1}], [{'b': 2}]]}", "{'a.b': 1}", 0},
    {"{'a': [{'b': [{'c': 1}]}]}", "{'a.0.b.0.c': 1}", 1},
    {"{'a': [{'b': [{'c': 1}]}]}", "{'a.b.0.c': 1}", 1},
    {"{'a': [{'b': [{'c': 1}]}]}", "{'a.0.b.c': 1}", 1},
    {"{'a': [{'b': [{'c': 1}]}]}", "{'a.1.b.c': 1}", 0},
    /* equality on embedded documents: deep, field-order sensitive */
    {"{'a': {'b': 1, 'c': 2}}", "{'a': {'b': 1, 'c': 2}}", 1},
    {"{'a': {'b': 1, 'c': 2}}", "{'a': {'c': 2, 'b': 1}}", 0},
    {"{'a': {'b': 1, 'c': 2}}", "{'a': {'b': 1}}", 0},
    {"{'a': {'b': 1}}", "{'a': {'b': 1.0}}", 1},
    {"{'a': {'b': {'c': [1, 2]}}}", "{'a.b.c': 2}", 1},
    {"{'a': {'b': {'c': [1, 2]}}}", "{'a.b': {'c': [1, 2]}}", 1},
    {"{'a': [{'b': 1}, {'b': 2}]}", "{'a': {'b': 2}}", 1},
    {"{'a': {}}", "{'a': {}}", 1},
    {"{'a': {'x': 1}}", "{'a': {}}", 0},
    {"{'a': {'x': 1}}", "{'a': {'$eq': {'x': 1}}}", 1},
    /* arrays: an element or the whole array; one level of unwinding */
    {"{'a': [1, 2]}", "{'a': 2}", 1},
    {"{'a': [1, 2]}", "{'a': [1, 2]}", 1},
    {"{'a': [1, 2]}", "{'a': [2, 1]}", 0},
    {"{'a': [[1, 2], [3]]}", "{'a': [1, 2]}", 1},
    {"{'a': [[1, 2], [3]]}", "{'a': [3]}", 1},
    {"{'a': [[1, 2], [3]]}", "{'a': [[1, 2], [3]]}", 1},
    {"{'a': [[1, 2], [3]]}", "{'a': 1}", 0},
    /* null and missing */
    {"{'x': null}", "{'x': null}", 1},
    {"{}", "{'x': null}", 1},
    {"{'x': 0}", "{'x': null}", 0},
    {"{'x': null}", "{'x': {'$eq': null}}", 1},
    {"{'x': null}", "{'x': {'$exists': true}}", 1},
    {"{}", "{'x': {'$exists': true}}", 0},
    {"{'x': null}", "{'x': {'$exists': false}}", 0},
    {"{}", "{'x': {'$exists': false}}", 1},
    {"{'x': 1}", "{'x': {'$exists': 1}}", 1},
    {"{'x': 1}", "{'x': {'$exists': 0}}", 0},
    {"{'x': null}", "{'x': {'$ne': null}}", 0},
    {"{}", "{'x': {'$ne': null}}", 0},
    {"{'x': 1}", "{'x': {'$ne': null}}", 1},
    {"{}", "{'x': {'$in': [null]}}", 1},
    {"{'x': null}", "{'x': {'$in': [null, 5]}}", 1},
    {"{'x': 3}", "{'x': {'$in': [null, 5]}}", 0},
    {"{'x': 5}", "{'x': {'$in': [null, 5]}}", 1},
    {"{'a': [{'b': 1}, {'c': 1}]}", "{'a.b': null}", 1},
    {"{'a': [{'b': 1}, {'b': 2}]}", "{'a.b': null}", 0},
    {"{'a': [1, 2]}", "{'a.b': null}", 0},
    {"{'a': [1, 2]}", "{'a.b': {'$exists': false}}", 1},
    {"{'a': [{'b': 1}, {'c': 1}]}", "{'a.b': {'$exists': false}}", 0},
    {"{'a': 5}", "{'a.b': null}", 1},
    {"{'a': {'b': 5}}", "{'a.b.c': null}", 1},
    {"{'a': [null]}", "{'a': null}", 1},
    {"{'a': []}", "{'a.0': null}", 0},
    {"{'a': []}", "{'a.0': {'$exists': false}}", 1},
    {"{'a': [null]}", "{'a.0': null}", 1},
    {"{'a': [1]}", "{'a.1': null}", 0},
    {"{'a': [{}]}", "{'a.0.b': null}", 1},
    {"{'a': []}", "{'a': null}", 0},
    {"{'a': []}", "{'a': {'$exists': true}}", 1},
    {"{}", "{'x': {'$gte': null}}", 1},
    {"{}", "{'x': {'$lte': null}}", 1},
    {"{}", "{'x': {'$gt': null}}", 0},
    {"{'x': null}", "{'x': {'$lt': null}}", 0},
    {"{'x': null}", "{'x': {'$gte': null}}", 1},
    {"{'x': null}", "{'x': {'$gt': null}}", 0},
    {"{'x': 'x'}", "{'x': {'$lt': null}}", 0},
    /* $ne and $nin: missing matches; on arrays no element may equal */
    {"{'a': [1, 2]}", "{'a': {'$ne': 1}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$ne': 3}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$ne': [1, 2]}}", 0},
    {"{}", "{'a': {'$ne': 1}}", 1},
    {"{'a': 1.0}", "{'a': {'$ne': 1}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$nin': [2, 3]}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$nin': [3, 4]}}", 1},
    {"{}", "{'a': {'$nin': [3]}}", 1},
    {"{'a': null}", "{'a': {'$nin': [null]}}", 0},
    {"{}", "{'a': {'$nin': [null]}}", 0},
    {"{'a': 1}", "{'a': {'$nin': []}}", 1},
    {ASSET, "{'profiles.asset_type': {'$ne': 'model'}}", 0},
    {ASSET, "{'profiles.asset_type': {'$ne': 'tool'}}", 1},
    {ASSET, "{'profiles.asset_type': {'$nin': ['tool', 'model']}}", 0},
    {ASSET, "{'profiles.asset_type': {'$nin': ['tool', 'x']}}", 1},
    /* $in */
    {"{'a': 1}", "{'a': {'$in': []}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$in': [2, 9]}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$in': [[1, 2]]}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$in': [3, 'x']}}", 0},
    {"{'a': {'b': 1}}", "{'a': {'$in': [{'b': 1}]}}", 1},
    {ASSET, "{'asset_version': {'$in': ['v0', 'v1']}}", 1},
    /* $elemMatch: value form and document form */
    {"{'a': [1, 6, 10]}", "{'a': {'$elemMatch': {'$gt': 5, '$lt': 9}}}", 1},
    {"{'a': [1, 10]}", "{'a': {'$elemMatch': {'$gt': 5, '$lt': 9}}}", 0},
    {"{'a': [1, 10]}", "{'a': {'$gt': 5, '$lt': 9}}", 1},
    {ASSET, "{'profiles': {'$elemMatch': {'asset_type': 'model', 'asset_sub_type': 'llm'}}}", 1},
    {ASSET, "{'profiles': {'$elemMatch': {'asset_type': 'model', 'asset_sub_type': 'image'}}}", 0},
    {ASSET, "{'files': {'$elemMatch': {'size': {'$gt': 100}, 'asset_file_id': 'f2'}}}", 1},
    {"{'a': 5}", "{'a': {'$elemMatch': {'$gt': 1}}}", 0},
    {"{}", "{'a': {'$elemMatch': {'$gt': 1}}}", 0},
    {"{'a': [[1, 2]]}", "{'a': {'$elemMatch': {'$gt': 1}}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$elemMatch': {'b': null}}}", 0},
    {"{'a': [{'c': 1}]}", "{'a': {'$elemMatch': {'b': null}}}", 1},
    {"{'a': [1, {}]}", "{'a': {'$elemMatch': {}}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$elemMatch': {}}}", 0},
    {"{'a': [{'b': [1, 2]}]}", "{'a': {'$elemMatch': {'b': {'$elemMatch': {'$gte': 2}}}}}", 1},
    {"{'a': [{'b': [1, 2]}]}", "{'a': {'$elemMatch': {'b': {'$elemMatch': {'$gte': 3}}}}}", 0},
    {"{'a': [{'b': 1}, {'b': 3}]}", "{'a': {'$elemMatch': {'$or': [{'b': 2}, {'b': 3}]}}}", 1},
    {"{'a': [{'b': 1}, {'b': 4}]}", "{'a': {'$elemMatch': {'$or': [{'b': 2}, {'b': 3}]}}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$elemMatch': {'$ne': 1}}}", 1},
    {"{'a': [1, 1]}", "{'a': {'$elemMatch': {'$ne': 1}}}", 0},
    {"{'a': [1, 'x']}", "{'a': {'$elemMatch': {'$not': {'$type': 'number'}}}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$elemMatch': {'$not': {'$type': 'number'}}}}", 0},
    {"{'a': [[1, 2]]}", "{'a': {'$elemMatch': {'0': 1}}}", 1},
    {"{'a': [{'b': 5}]}", "{'a': {'$elemMatch': {'b': {'$in': [4, 5]}}}}", 1},
    {"{'x': {'a': [{'b': 1}]}}", "{'x.a': {'$elemMatch': {'b': 1}}}", 1},
    {"{'a': [[1], [1, 2]]}", "{'a': {'$elemMatch': {'$size': 2}}}", 1},
    {"{'a': []}", "{'a': {'$elemMatch': {'$exists': true}}}", 0},
    {"{'a': [[1, 2], [3]]}", "{'a': {'$elemMatch': {'$elemMatch': {'$eq': 3}}}}", 1},
    {"{'a': [{'b': {'c': 1}}]}", "{'a': {'$elemMatch': {'b.c': 1}}}", 1},
    /* numbers across integer and real */
    {"{'a': 1}", "{'a': 1.0}", 1},
    {"{'a': 1.0}", "{'a': 1}", 1},
    {"{'a': 1.5}", "{'a': {'$gt': 1}}", 1},
    {"{'a': 5}", "{'a': {'$lte': 5.0}}", 1},
    {"{'a': 5}", "{'a': {'$lt': 5.0000001}}", 1},
    {"{'a': -1}", "{'a': {'$lt': -0.5}}", 1},
    {"{'a': 2.5}", "{'a': {'$gt': 2}}", 1},
    {"{'a': 2.5}", "{'a': {'$lt': 3}}", 1},
    {"{'a': -2.5}", "{'a': {'$lt': -2}}", 1},
    {"{'a': -2.5}", "{'a': {'$gt': -3}}", 1},
    {"{'a': 0.0}", "{'a': -0.0}", 1},
    /* type classes: comparisons never cross them */
    {"{'a': '6'}", "{'a': {'$gt': 5}}", 0},
    {"{'a': 6}", "{'a': {'$gt': '5'}}", 0},
    {"{'a': true}", "{'a': {'$gt': 0}}", 0},
    {"{'a': true}", "{'a': 1}", 0},
    {"{'a': 0}", "{'a': false}", 0},
    {"{'a': '1'}", "{'a': 1}", 0},
    {"{'a': null}", "{'a': 0}", 0},
    {"{'a': true}", "{'a': {'$gt': false}}", 1},
    {"{'a': false}", "{'a': {'$gte': false}}", 1},
    {"{'a': [3, 7]}", "{'a': {'$gt': 5}}", 1},
    {"{'a': [3, 4]}", "{'a': {'$gt': 5}}", 0},
    {"{'a': [3, '9']}", "{'a': {'$gt': 5}}", 0},
    {"{'a': {'b': 2}}", "{'a': {'$gt': {'b': 1}}}", 1},
    {"{'a': {'b': 2}}", "{'a': {'$gt': 1}}", 0},
    {"{'a': [1, 3]}", "{'a': {'$gt': [1, 2]}}", 1},
    {ASSET, "{'files.size': {'$gte': 1000}}", 1},
    {ASSET, "{'files.size': {'$gt': 5000}}", 0},
    /* strings: bytes, then length */
    {"{'a': 'b'}", "{'a': {'$gt': 'a'}}", 1},
    {"{'a': 'ab'}", "{'a': {'$gt': 'a'}}", 1},
    {"{'a': 'B'}", "{'a': {'$gt': 'a'}}", 0},
    {"{'a': 'a'}", "{'a': {'$gte': 'a'}}", 1},
    {"{'a': 'a'}", "{'a': {'$lt': 'a'}}", 0},
    {"{'a': 'a'}", "{'a': {'$lt': 'ab'}}", 1},
    {"{'a': 'v10'}", "{'a': {'$lt': 'v9'}}", 1},
    {"{'a': '\\u00e9'}", "{'a': {'$gt': 'z'}}", 1},
    {"{'a': 'A'}", "{'a': 'a'}", 0},
    /* big integers */
    {"{'a': 9223372036854775807}", "{'a': 9223372036854775807}", 1},
    {"{'a': 9223372036854775807}", "{'a': 9223372036854775806}", 0},
    {"{'a': 9223372036854775807}", "{'a': {'$gt': 9223372036854775806}}", 1},
    {"{'a': 9007199254740993}", "{'a': 9007199254740992.0}", 0},
    {"{'a': 9007199254740993}", "{'a': {'$gt': 9007199254740992.0}}", 1},
    {"{'a': 9007199254740992}", "{'a': 9007199254740992.0}", 1},
    {"{'a': 9223372036854775807}", "{'a': {'$lt': 9223372036854775808.0}}", 1},
    {"{'a': 9223372036854775807}", "{'a': 9223372036854775808.0}", 0},
    {"{'a': -9223372036854775808}", "{'a': -9223372036854775808.0}", 1},
    {"{'a': -9223372036854775808}", "{'a': {'$gt': -1e19}}", 1},
    {"{'a': 1e300}", "{'a': {'$gt': 9223372036854775807}}", 1},
    {"{'a': -1e300}", "{'a': {'$lt': -9223372036854775808}}", 1},
    /* $all */
    {"{'a': [1, 2, 3]}", "{'a': {'$all': [1, 3]}}", 1},
    {"{'a': [1, 2, 3]}", "{'a': {'$all': [1, 4]}}", 0},
    {"{'a': [1, 2]}", "{'a': {'$all': []}}", 0},
    {"{'a': 1}", "{'a': {'$all': [1]}}", 1},
    {"{'a': [[1, 2], [3]]}", "{'a': {'$all': [[1, 2], [3]]}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$all': [[1, 2]]}}", 1},
    {ASSET, "{'profiles.asset_tags': {'$all': ['gen', 'nlp']}}", 1},
    {ASSET, "{'profiles.asset_tags': {'$all': ['gen', 'cv']}}", 0},
    {"{}", "{'a': {'$all': [null]}}", 1},
    /* $size */
    {"{'a': [1, 2]}", "{'a': {'$size': 2}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$size': 1}}", 0},
    {"{'a': []}", "{'a': {'$size': 0}}", 1},
    {"{'a': 'ab'}", "{'a': {'$size': 2}}", 0},
    {"{}", "{'a': {'$size': 0}}", 0},
    {"{'a': [[1, 2]]}", "{'a': {'$size': 2}}", 0},
    {"{'a': [[1, 2]]}", "{'a': {'$size': 1}}", 1},
    {"{'a': [{'b': [1, 2]}, {'b': [1]}]}", "{'a.b': {'$size': 1}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$size': 2.0}}", 1},
    {ASSET, "{'profiles.asset_tags': {'$size': 0}}", 1},
    /* $type: every alias and code */
    {"{'a': 1.5}", "{'a': {'$type': 'double'}}", 1},
    {"{'a': 1.5}", "{'a': {'$type': 1}}", 1},
    {"{'a': 1}", "{'a': {'$type': 'double'}}", 0},
    {"{'a': 's'}", "{'a': {'$type': 'string'}}", 1},
    {"{'a': 's'}", "{'a': {'$type': 2}}", 1},
    {"{'a': 1}", "{'a': {'$type': 'string'}}", 0},
    {"{'a': {}}", "{'a': {'$type': 'object'}}", 1},
    {"{'a': {}}", "{'a': {'$type': 3}}", 1},
    {"{'a': []}", "{'a': {'$type': 'object'}}", 0},
    {"{'a': []}", "{'a': {'$type': 'array'}}", 1},
    {"{'a': [1]}", "{'a': {'$type': 4}}", 1},
    {"{'a': [1]}", "{'a': {'$type': 'int'}}", 1},
    {"{'a': [[1]]}", "{'a': {'$type': 'array'}}", 1},
    {"{'a': {}}", "{'a': {'$type': 'array'}}", 0},
    {"{'a': true}", "{'a': {'$type': 'bool'}}", 1},
    {"{'a': false}", "{'a': {'$type': 8}}", 1},
    {"{'a': 0}", "{'a': {'$type': 'bool'}}", 0},
    {"{'a': null}", "{'a': {'$type': 'null'}}", 1},
    {"{'a': null}", "{'a': {'$type': 10}}", 1},
    {"{}", "{'a': {'$type': 'null'}}", 0},
    {"{'a': 7}", "{'a': {'$type': 'int'}}", 1},
    {"{'a': 7}", "{'a': {'$type': 16}}", 1},
    {"{'a': 2147483647}", "{'a': {'$type': 'int'}}", 1},
    {"{'a': -2147483648}", "{'a': {'$type': 'int'}}", 1},
    {"{'a': 2147483648}", "{'a': {'$type': 'int'}}", 0},
    {"{'a': 2147483648}", "{'a': {'$type': 'long'}}", 1},
    {"{'a': -2147483649}", "{'a': {'$type': 18}}", 1},
    {"{'a': 7}", "{'a': {'$type': 'long'}}", 0},
    {"{'a': 7}", "{'a': {'$type': 'number'}}", 1},
    {"{'a': 7.5}", "{'a': {'$type': 'number'}}", 1},
    {"{'a': 9223372036854775807}", "{'a': {'$type': 'number'}}", 1},
    {"{'a': '7'}", "{'a': {'$type': 'number'}}", 0},
    {"{'a': 'x'}", "{'a': {'$type': ['int', 'string']}}", 1},
    {"{'a': 'x'}", "{'a': {'$type': [16, 1]}}", 0},
    {"{'a': 'x'}", "{'a': {'$type': 2.0}}", 1},
    {"{'a': 'x'}", "{'a': {'$type': []}}", 0},
    {ASSET, "{'profiles.asset_type': {'$type': 'string'}}", 1},
    /* $regex and $options */
    {"{'a': 'Hello'}", "{'a': {'$regex': '^Hel'}}", 1},
    {"{'a': 'Hello'}", "{'a': {'$regex': '^hel'}}", 0},
    {"{'a': 'Hello'}", "{'a': {'$regex': '^hel', '$options': 'i'}}", 1},
    {"{'a': 'x\\nfoo'}", "{'a': {'$regex': '^foo'}}", 0},
    {"{'a': 'x\\nfoo'}", "{'a': {'$regex': '^foo', '$options': 'm'}}", 1},
    {"{'a': 'a\\nb'}", "{'a': {'$regex': 'a.b'}}", 0},
    {"{'a': 'a\\nb'}", "{'a': {'$regex': 'a.b', '$options': 's'}}", 1},
    {"{'a': 'ab'}", "{'a': {'$regex': 'a b'}}", 0},
    {"{'a': 'ab'}", "{'a': {'$regex': 'a b # comment', '$options': 'x'}}", 1},
    {"{'a': 'AB'}", "{'a': {'$options': 'ix', '$regex': 'a b'}}", 1},
    {"{'a': 'AB'}", "{'a': {'$regex': '(?i)ab'}}", 1},
    {"{'a': 5}", "{'a': {'$regex': '5'}}", 0},
    {"{'a': ['x', 'yes']}", "{'a': {'$regex': '^y'}}", 1},
    {"{'a': ['x', 'no']}", "{'a': {'$regex': '^y'}}", 0},
    {"{}", "{'a': {'$regex': '.*'}}", 0},
    {"{'a': null}", "{'a': {'$regex': '.*'}}", 0},
    {"{'a': 'h\\u00e9llo'}", "{'a': {'$regex': '^h.llo$'}}", 1},
    {ASSET, "{'apis.route': {'$regex': '^/api/v1/'}}", 1},
    {"{'a': 'x'}", "{'a': {'$regex': 'X', '$ne': 'y', '$options': 'i'}}", 1},
    {"{'a': 'y'}", "{'a': {'$regex': 'Y', '$ne': 'y', '$options': 'i'}}", 0},
    /* $not */
    {"{'a': 3}", "{'a': {'$not': {'$gt': 5}}}", 1},
    {"{'a': 7}", "{'a': {'$not': {'$gt': 5}}}", 0},
    {"{}", "{'a': {'$not': {'$gt': 5}}}", 1},
    {"{'a': 'x'}", "{'a': {'$not': {'$gt': 5}}}", 1},
    {"{'a': [1, 7]}", "{'a': {'$not': {'$gt': 5}}}", 0},
    {"{'a': 'Hello'}", "{'a': {'$not': {'$regex': '^h', '$options': 'i'}}}", 0},
    {"{'a': 'Jello'}", "{'a': {'$not': {'$regex': '^h', '$options': 'i'}}}", 1},
    {"{'a': 6}", "{'a': {'$not': {'$gt': 5, '$lt': 7}}}", 0},
    {"{'a': 8}", "{'a': {'$not': {'$gt': 5, '$lt': 7}}}", 1},
    {"{'a': 1}", "{'a': {'$not': {'$not': {'$eq': 1}}}}", 1},
    {"{'a': [1, 2]}", "{'a': {'$not': {'$size': 2}}}", 0},
    {"{'a': 9}", "{'a': {'$not': {'$gt': 5}, '$lt': 10}}", 0},
    {"{'a': 4}", "{'a': {'$not': {'$gt': 5}, '$lt': 10}}", 1},
    {"{'a': [1]}", "{'a': {'$not': {'$elemMatch': {'$gt': 1}}}}", 1},
    /* $and, $or, $nor and nesting */
    {"{'a': 1, 'b': 2}", "{'$and': [{'a': 1}, {'b': 2}]}", 1},
    {"{'a': 1, 'b': 2}", "{'$and': [{'a': 1}, {'b': 3}]}", 0},
    {"{'a': 1}", "{'$or': [{'a': 2}, {'a': 1}]}", 1},
    {"{'a': 1}", "{'$or': [{'a': 2}, {'b': 1}]}", 0},
    {"{'a': 1}", "{'$nor': [{'a': 2}, {'b': 1}]}", 1},
    {"{'a': 1}", "{'$nor': [{'a': 1}]}", 0},
    {"{'a': 1, 'b': 2}", "{'$or': [{'$and': [{'a': 1}, {'b': 2}]}, {'c': 3}]}", 1},
    {"{'a': 1}", "{'$and': [{}]}", 1},
    {"{'a': 1}", "{'$nor': [{}]}", 0},
    {"{'a': 1, 'b': 2}", "{'a': 1, '$or': [{'b': 3}, {'b': 2}]}", 1},
    {"{'a': 2, 'b': 2}", "{'a': 1, '$or': [{'b': 3}, {'b': 2}]}", 0},
    {"{'a': 1}", "{'$nor': [{'$or': [{'a': 1}]}]}", 0},
    {"{}", "{'$or': [{'a': {'$exists': false}}]}", 1},
    {"{'a': 1}", "{'$and': [{'$or': [{'a': 1}]}, {'$nor': [{'a': 2}]}]}", 1},
    {ASSET,
     "{'$or': [{'profiles.asset_sub_type': 'llm'}, {'asset_version': 'v9'}],"
     " 'files.asset_file_id': {'$all': ['f1', 'f2']}}",
     1},
};

static void test_match_table(void)
{
    size_t n = sizeof(match_cases) / sizeof(match_cases[0]);
    for (size_t i = 0; i < n; i++) {
        const struct match_case *c = &match_cases[i];
        json_t *doc = js(c->doc);
        json_t *fdoc = js(c->filter);
        ad_filter *f = NULL;
        ad_error err = {0};
        ad_code rc = fdoc ? ad_filter_parse(fdoc, &f, &err) : AD_E_BAD_JSON;
        CHECK(doc && rc == AD_OK, "row %zu %s: parse: %s", i, c->filter, err.msg);
        if (doc && rc == AD_OK) {
            int got = ad_filter_match(f, doc, &err);
            CHECK(got == c->want, "row %zu: %s on %s: got %d, want %d (%s)", i, c->filter, c->doc,
                  got, c->want, err.msg);
        }
        ad_filter_free(f);
        json_decref(doc);
        json_decref(fdoc);
    }
}

static const struct error_case {
    const char *filter;
    const char *want; /* substring of the message */
} error_cases[] = {
    /* not a filter document */
    {"5", "filter must be a JSON object"},
    {"[]", "filter must be a JSON object"},
    {"null", "filter must be a JSON object"},
    {"'x'", "filter must be a JSON object"},
    /* forbidden and unknown operators, top level and in fields */
    {"{'$where': 'this.a == 1'}", "unknown operator $where"},
    {"{'$expr': {'$eq': ['$a', 1]}}", "unknown operator $expr"},
    {"{'$function': {}}", "unknown operator $function"},
    {"{'$accumulator': {}}", "unknown operator $accumulator"},
    {"{'$text': {'$search': 'x'}}", "unknown operator $text"},
    {"{'$comment': 'x'}", "unknown operator $comment"},
    {"{'$jsonSchema': {}}", "unknown operator $jsonSchema"},
    {"{'$mod': [2, 0]}", "unknown operator $mod"},
    {"{'a': {'$mod': [2, 0]}}", "a: unknown operator $mod"},
    {"{'a': {'$where': 'x'}}", "a: unknown operator $where"},
    {"{'a': {'$expr': 1}}", "a: unknown operator $expr"},
    {"{'a': {'$function': {}}}", "a: unknown operator $function"},
    {"{'a': {'$accumulator': {}}}", "a: unknown operator $accumulator"},
    {"{'a': {'$text': 'x'}}", "a: unknown operator $text"},
    {"{'profiles.asset_type': {'$foo': 1}}", "profiles.asset_type: unknown operator $foo"},
    {"{'a': {'$geoWithin': {}}}", "a: unknown operator $geoWithin"},
    {"{'a': {'$and': [{'b': 1}]}}", "a: unknown operator $and"},
    {"{'$and': [{'a': {'$function': {}}}]}", "$and[0]: a: unknown operator $function"},
    {"{'$or': [{'a': 1}, {'$where': '1'}]}", "$or[1]: unknown operator $where"},
    {"{'a': {'$elemMatch': {'$where': '1'}}}", "a: $elemMatch: unknown operator $where"},
    {"{'a': {'$elemMatch': {'b': {'$text': 1}}}}", "a: $elemMatch: b: unknown operator $text"},
    {"{'a': {'$not': {'$mod': [1, 0]}}}", "a: unknown operator $mod"},
    {"{'$gt': 5}", "unknown operator $gt at the top level"},
    {"{'$not': {'a': 1}}", "unknown operator $not"},
    {"{'$regex': 'x'}", "unknown operator $regex"},
    /* operator objects */
    {"{'a': {'$gt': 1, 'b': 2}}", "a: cannot mix operators and field names"},
    {"{'a': {'b': 2, '$gt': 1}}", "a: cannot mix operators and field names"},
    {"{'a': {'$options': 'i'}}", "a: $options needs $regex"},
    {"{'a': {'$eq': 1, '$options': 'i'}}", "a: $options needs $regex"},
    {"{'a': {'$not': {'$options': 'i'}}}", "a: $options needs $regex"},
    /* operands */
    {"{'a': {'$regex': 5}}", "a: $regex needs a string"},
    {"{'a': {'$regex': ['x']}}", "a: $regex needs a string"},
    {"{'a': {'$regex': 'x', '$options': 'q'}}", "a: $options: unknown option 'q'"},
    {"{'a': {'$regex': 'x', '$options': 'iu'}}", "unknown option 'u'"},
    {"{'a': {'$regex': 'x', '$options': 5}}", "a: $options needs a string"},
    {"{'a': {'$regex': '('}}", "a: $regex: invalid pattern"},
    {"{'a': {'$regex': 'a\\u0000b'}}", "a: $regex must not contain a NUL byte"},
    {"{'a': {'$in': 5}}", "a: $in needs an array"},
    {"{'asset_version': {'$in': 'v1'}}", "asset_version: $in needs an array"},
    {"{'a': {'$nin': {}}}", "a: $nin needs an array"},
    {"{'a': {'$all': 1}}", "a: $all needs an array"},
    {"{'a': {'$all': [{'$elemMatch': {'b': 1}}]}}", "operator expression"},
    {"{'a': {'$in': [1, {'$gt': 1}]}}", "a: $in: element 1 is an operator expression"},
    {"{'a': {'$size': -1}}", "a: $size needs a non-negative integer"},
    {"{'a': {'$size': 1.5}}", "a: $size needs a non-negative integer"},
    {"{'a': {'$size': -2.0}}", "a: $size needs a non-negative integer"},
    {"{'a': {'$size': '2'}}", "a: $size needs a non-negative integer"},
    {"{'a': {'$size': null}}", "a: $size needs a non-negative integer"},
    {"{'a': {'$exists': 'yes'}}", "a: $exists needs a boolean"},
    {"{'a': {'$exists': null}}", "a: $exists needs a boolean"},
    {"{'a': {'$type': 'foo'}}", "a: $type: unknown type \"foo\""},
    {"{'a': {'$type': 'binData'}}", "unknown type \"binData\""},
    {"{'a': {'$type': 99}}", "a: $type: unknown type code 99"},
    {"{'a': {'$type': 1.5}}", "unknown type code 1.5"},
    {"{'a': {'$type': ['int', 'x']}}", "unknown type \"x\""},
    {"{'a': {'$type': {}}}", "a: $type needs a type name"},
    {"{'a': {'$type': [null]}}", "a: $type needs a type name"},
    {"{'a': {'$elemMatch': 5}}", "a: $elemMatch needs an object"},
    {"{'a': {'$elemMatch': {'$gt': 1, 'b': 2}}}", "a: $elemMatch: cannot mix"},
    {"{'a': {'$elemMatch': {'b': {'$in': 1}}}}", "a: $elemMatch: b: $in needs an array"},
    {"{'a': {'$elemMatch': {'$in': 1}}}", "a: $elemMatch: $in needs an array"},
    {"{'a': {'$not': 5}}", "a: $not needs an operator object"},
    {"{'a': {'$not': {}}}", "a: $not needs an operator object"},
    {"{'a': {'$not': {'b': 1}}}", "a: $not needs an operator object"},
    {"{'a': {'$not': {'$gt': 1, 'b': 1}}}", "a: $not needs an operator object"},
    /* logical operators */
    {"{'$and': []}", "$and needs a non-empty array"},
    {"{'$or': {}}", "$or needs a non-empty array"},
    {"{'$nor': 5}", "$nor needs a non-empty array"},
    {"{'$and': [5]}", "$and[0] must be a JSON object"},
    {"{'$or': [{'a': 1}, []]}", "$or[1] must be a JSON object"},
    {"{'$or': [{'a': 1}, {'b': {'$in': 2}}]}", "$or[1]: b: $in needs an array"},
    /* paths */
    {"{'a..b': 1}", "a..b: empty part in path"},
    {"{'.a': 1}", ".a: empty part in path"},
    {"{'a.': 1}", "a.: empty part in path"},
    {"{'': 1}", "empty part in path"},
    {"{'a.$b': 1}", "a.$b: path parts must not start with '$'"},
    {"{'a': {'$elemMatch': {'.b': 1}}}", "a: $elemMatch: .b: empty part in path"},
};

static void test_error_table(void)
{
    size_t n = sizeof(error_cases) / sizeof(error_cases[0]);
    for (size_t i = 0; i < n; i++) {
        const struct error_case *c = &error_cases[i];
        json_t *fdoc = js(c->filter);
        ad_filter *f = (ad_filter *)&f; /* must be reset to NULL */
        ad_error err = {0};
        ad_code rc = fdoc ? ad_filter_parse(fdoc, &f, &err) : AD_E_BAD_JSON;
        CHECK(rc == AD_E_FILTER && f == NULL && strstr(err.msg, c->want),
              "row %zu %s: got code %d \"%s\", want \"%s\"", i, c->filter, (int)rc, err.msg,
              c->want);
        if (rc == AD_OK) ad_filter_free(f);
        json_decref(fdoc);
    }
}

/* ------------------------------------------------------------------------ */
/* Limits: filters built programmatically                                   */
/* ------------------------------------------------------------------------ */

/* Parses; returns the code and frees the tree. */
static ad_code parse_code(json_t *fdoc, ad_error *err)
{
    ad_filter *f = NULL;
    ad_code rc = ad_filter_parse(fdoc, &f, err);
    ad_filter_free(f);
    json_decref(fdoc);
    return rc;
}

/* {'$and': [{'$and': [... {'a': 1} ...]}]} with `levels` $and nodes. */
static json_t *nested_and(int levels)
{
    json_t *doc = json_pack("{s:i}", "a", 1);
    for (int i = 0; i < levels; i++) doc = json_pack("{s:[o]}", "$and", doc);
    return doc;
}

/* {'a': {'$not': {'$not': ... {'$eq': 1}}}} with `levels` $not nodes. */
static json_t *nested_not(int levels)
{
    json_t *ops = json_pack("{s:i}", "$eq", 1);
    for (int i = 0; i < levels; i++) ops = json_pack("{s:o}", "$not", ops);
    return json_pack("{s:o}", "a", ops);
}

/* {'a': {'$elemMatch': {'$elemMatch': ... {'$eq': 1}}}} with `levels` $elemMatch nodes. */
static json_t *nested_elem_match(int levels)
{
    json_t *ops = json_pack("{s:i}", "$eq", 1);
    for (int i = 0; i < levels; i++) ops = json_pack("{s:o}", "$elemMatch", ops);
    return json_pack("{s:o}", "a", ops);
}

/* An object with n fields f0..f(n-1) = i. */
static json_t *wide_doc(int n)
{
    json_t *doc = json_object();
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "f%d", i);
        json_object_set_new(doc, key, json_integer(i));
    }
    return doc;
}

/* [0, 1, ..., n-1] */
static json_t *int_list(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(i));
    return a;
}

/* n copies of {} */
static json_t *doc_list(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_object());
    return a;
}

static char *repeat_char(char c, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void check_limit(json_t *fdoc, bool ok, const char *want, const char *what)
{
    ad_error err = {0};
    ad_code rc = parse_code(fdoc, &err);
    if (ok)
        CHECK(rc == AD_OK, "%s: got %d \"%s\", want ok", what, (int)rc, err.msg);
    else
        CHECK(rc == AD_E_FILTER && strstr(err.msg, want), "%s: got %d \"%s\", want \"%s\"", what,
              (int)rc, err.msg, want);
}

static void test_limit_depth(void)
{
    const char *deep = "nested more than 32 levels deep";
    /* the innermost predicate is one level below the last $and/$not/$elemMatch */
    check_limit(nested_and(AD_FILTER_MAX_DEPTH - 1), true, NULL, "31 nested $and");
    check_limit(nested_and(AD_FILTER_MAX_DEPTH), false, deep, "32 nested $and");
    check_limit(nested_and(200), false, deep, "200 nested $and");
    check_limit(nested_not(AD_FILTER_MAX_DEPTH - 1), true, NULL, "31 nested $not");
    check_limit(nested_not(AD_FILTER_MAX_DEPTH), false, deep, "32 nested $not");
    check_limit(nested_elem_match(AD_FILTER_MAX_DEPTH - 1), true, NULL, "31 nested $elemMatch");
    check_limit(nested_elem_match(AD_FILTER_MAX_DEPTH), false, deep, "32 nested $elemMatch");
    check_limit(nested_elem_match(500), false, deep, "500 nested $elemMatch");

    /* the deepest legal filter still evaluates */
    json_t *fdoc = nested_and(AD_FILTER_MAX_DEPTH - 1);
    json_t *doc = json_pack("{s:i}", "a", 1);
    ad_filter *f = NULL;
    ad_error err = {0};
    CHECK(ad_filter_parse(fdoc, &f, &err) == AD_OK, "%s", err.msg);
    CHECK(ad_filter_match(f, doc, &err) == 1, "deep $and should match");
    ad_filter_free(f);
    json_decref(fdoc);
    json_decref(doc);
}

static void test_limit_nodes(void)
{
    const char *many = "more than 1024 nodes";
    /* a document of n fields: AND + n predicates */
    check_limit(wide_doc(AD_FILTER_MAX_NODES - 1), true, NULL, "1023 fields");
    check_limit(wide_doc(AD_FILTER_MAX_NODES), false, many, "1024 fields");
    /* 600 alternatives of two fields each: OR + 600 * (AND + 2) */
    json_t *alts = json_array();
    for (int i = 0; i < 600; i++)
        json_array_append_new(alts, json_pack("{s:i,s:i}", "a", i, "b", i));
    check_limit(json_pack("{s:o}", "$or", alts), false, many, "600 two-field $or elements");
}

static void test_limit_lists(void)
{
    static const char *const list_ops[] = {"$in", "$nin", "$all"};
    for (size_t i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s has more than 1000 elements", list_ops[i]);
        check_limit(json_pack("{s:{s:o}}", "a", list_ops[i], int_list(AD_FILTER_MAX_LIST)), true,
                    NULL, list_ops[i]);
        check_limit(json_pack("{s:{s:o}}", "a", list_ops[i], int_list(AD_FILTER_MAX_LIST + 1)),
                    false, want, list_ops[i]);
    }
    static const char *const logical_ops[] = {"$and", "$or", "$nor"};
    for (size_t i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s has more than 1000 elements", logical_ops[i]);
        check_limit(json_pack("{s:o}", logical_ops[i], doc_list(AD_FILTER_MAX_LIST)), true, NULL,
                    logical_ops[i]);
        check_limit(json_pack("{s:o}", logical_ops[i], doc_list(AD_FILTER_MAX_LIST + 1)), false,
                    want, logical_ops[i]);
    }
    json_t *types = json_array();
    for (int i = 0; i <= AD_FILTER_MAX_LIST; i++) json_array_append_new(types, json_string("int"));
    check_limit(json_pack("{s:{s:o}}", "a", "$type", types), false,
                "$type has more than 1000 elements", "$type list");
}

static void test_limit_regex_and_path(void)
{
    char *pat = repeat_char('a', AD_FILTER_MAX_REGEX);
    check_limit(json_pack("{s:{s:s}}", "a", "$regex", pat), true, NULL, "1024-byte regex");
    free(pat);
    pat = repeat_char('a', AD_FILTER_MAX_REGEX + 1);
    check_limit(json_pack("{s:{s:s}}", "a", "$regex", pat), false,
                "a: $regex pattern is longer than 1024 bytes", "1025-byte regex");
    free(pat);

    char *path = repeat_char('p', AD_FILTER_MAX_PATH);
    check_limit(json_pack("{s:i}", path, 1), true, NULL, "512-byte path");
    free(path);
    path = repeat_char('p', AD_FILTER_MAX_PATH + 1);
    check_limit(json_pack("{s:i}", path, 1), false, "is longer than 512 bytes", "513-byte path");
    free(path);
    /* a long dotted path is also bounded */
    path = repeat_char('p', AD_FILTER_MAX_PATH + 1);
    for (size_t i = 1; i < AD_FILTER_MAX_PATH; i += 2) path[i] = '.';
    check_limit(json_pack("{s:i}", path, 1), false, "is longer than 512 bytes", "dotted path");
    free(path);
}

/* ------------------------------------------------------------------------ */
/* Regex match limit                                                        */
/* ------------------------------------------------------------------------ */

static void test_regex_too_complex(void)
{
    json_t *fdoc = js("{'a': {'$regex': '(a+)+$'}}");
    char *subject = repeat_char('a', 4096);
    subject[4095] = 'b';
    json_t *doc = json_pack("{s:s}", "a", subject);
    json_t *ok_doc = json_pack("{s:s}", "a", "aaa");
    ad_filter *f = NULL;
    ad_error err = {0};

    CHECK(ad_filter_parse(fdoc, &f, &err) == AD_OK, "%s", err.msg);
    clock_t t0 = clock();
    int got = ad_filter_match(f, doc, &err);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(got == -1, "catastrophic regex: got %d, want -1", got);
    CHECK(err.code == AD_E_FILTER, "code %d", (int)err.code);
    CHECK(strstr(err.msg, "a: regex too complex") != NULL, "message \"%s\"", err.msg);
    CHECK(secs < 2.0, "catastrophic regex took %.2fs", secs);
    /* the tree keeps no state: a harmless subject still matches */
    ad_error_clear(&err);
    CHECK(ad_filter_match(f, ok_doc, &err) == 1, "after limit: %s", err.msg);

    /* inside $or and under $not the error propagates, not a match */
    ad_filter_free(f);
    json_decref(fdoc);
    fdoc = js("{'$or': [{'b': 1}, {'a': {'$not': {'$regex': '(a+)+$'}}}]}");
    CHECK(ad_filter_parse(fdoc, &f, &err) == AD_OK, "%s", err.msg);
    CHECK(ad_filter_match(f, doc, &err) == -1, "error under $not must propagate");
    CHECK(strstr(err.msg, "regex too complex") != NULL, "message \"%s\"", err.msg);

    ad_filter_free(f);
    json_decref(fdoc);
    json_decref(doc);
    json_decref(ok_doc);
    free(subject);
}

/* ------------------------------------------------------------------------ */
/* Tree shape (what store adapters compile)                                 */
/* ------------------------------------------------------------------------ */

static ad_filter *parse_ok(const char *text)
{
    json_t *fdoc = js(text);
    ad_filter *f = NULL;
    ad_error err = {0};
    ad_code rc = fdoc ? ad_filter_parse(fdoc, &f, &err) : AD_E_BAD_JSON;
    CHECK(rc == AD_OK, "%s: %s", text, err.msg);
    json_decref(fdoc);
    return f;
}

static bool arg_is(const ad_filter *f, const char *text)
{
    json_t *want = js(text);
    bool same = f && f->arg && want && json_equal(f->arg, want);
    json_decref(want);
    return same;
}

static bool str_is(const char *got, const char *want)
{
    return got && strcmp(got, want) == 0;
}

static void test_tree_shape(void)
{
    ad_filter *f = parse_ok("{}");
    CHECK(f && f->op == AD_FOP_TRUE && !f->path && !f->nkids, "{} is TRUE");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$ne': 5}}");
    CHECK(f && f->op == AD_FOP_NE && arg_is(f, "5"), "$ne stays NE");
    CHECK(str_is(f ? f->path : NULL, "a"), "path");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$nin': [1, 'x', null]}}");
    CHECK(f && f->op == AD_FOP_NIN && arg_is(f, "[1, 'x', null]"), "$nin stays NIN");
    ad_filter_free(f);

    f = parse_ok("{'a': {'b': 1, 'c': [2]}}");
    CHECK(f && f->op == AD_FOP_EQ && arg_is(f, "{'b': 1, 'c': [2]}"), "literal object EQ");
    ad_filter_free(f);

    f = parse_ok("{'a': 1, 'b.c': {'$gt': 2}}");
    CHECK(f && f->op == AD_FOP_AND && f->nkids == 2 && !f->path, "fields are AND");
    if (f && f->nkids == 2) {
        CHECK(f->kids[0]->op == AD_FOP_EQ && f->kids[1]->op == AD_FOP_GT, "kid ops in order");
        CHECK_STR(f->kids[1]->path, "b.c");
    }
    ad_filter_free(f);

    f = parse_ok("{'a': {'$gt': 1, '$lt': 5}}");
    CHECK(f && f->op == AD_FOP_AND && f->nkids == 2, "several operators are AND");
    if (f && f->nkids == 2) {
        CHECK(f->kids[0]->op == AD_FOP_GT && f->kids[1]->op == AD_FOP_LT, "GT, LT");
        CHECK_STR(f->kids[0]->path, "a");
        CHECK_STR(f->kids[1]->path, "a");
    }
    ad_filter_free(f);

    f = parse_ok("{'a': {'$not': {'$gt': 5}}}");
    CHECK(f && f->op == AD_FOP_NOT && !f->path && f->nkids == 1, "$not is NOT");
    if (f && f->nkids == 1) {
        CHECK(f->kids[0]->op == AD_FOP_GT && arg_is(f->kids[0], "5"), "NOT(GT)");
        CHECK_STR(f->kids[0]->path, "a");
    }
    ad_filter_free(f);

    f = parse_ok("{'a': {'$not': {'$gt': 5, '$lt': 9}}}");
    CHECK(f && f->op == AD_FOP_NOT && f->nkids == 1 && f->kids[0]->op == AD_FOP_AND &&
              f->kids[0]->nkids == 2,
          "NOT(AND(GT, LT))");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$elemMatch': {'$gt': 5, '$lt': 9}}}");
    CHECK(f && f->op == AD_FOP_ELEM_MATCH && f->nkids == 1 && !f->arg, "$elemMatch value form");
    CHECK(str_is(f ? f->path : NULL, "a"), "path");
    if (f && f->nkids == 1) {
        const ad_filter *k = f->kids[0];
        CHECK(k->op == AD_FOP_AND && k->nkids == 2 && !k->path, "kid is AND");
        if (k->nkids == 2) {
            CHECK_STR(k->kids[0]->path, "");
            CHECK_STR(k->kids[1]->path, "");
        }
    }
    ad_filter_free(f);

    f = parse_ok("{'profiles': {'$elemMatch': {'asset_type': 'model'}}}");
    CHECK(f && f->op == AD_FOP_ELEM_MATCH && f->nkids == 1 && f->kids[0]->op == AD_FOP_EQ,
          "$elemMatch document form");
    if (f && f->nkids == 1) CHECK_STR(f->kids[0]->path, "asset_type");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$elemMatch': {}}}");
    CHECK(f && f->op == AD_FOP_ELEM_MATCH && f->nkids == 1 && f->kids[0]->op == AD_FOP_TRUE,
          "empty $elemMatch has a TRUE kid");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$regex': '^x', '$options': 'im'}}");
    CHECK(f && f->op == AD_FOP_REGEX && arg_is(f, "'^x'") && f->re, "$regex node");
    CHECK(str_is(f ? f->regex_opts : NULL, "im"), "regex_opts im");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$regex': 'x'}}");
    CHECK(str_is(f ? f->regex_opts : NULL, ""), "regex_opts empty");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$type': [2, 'int', 18.0, 'number']}}");
    CHECK(f && f->op == AD_FOP_TYPE && arg_is(f, "['string', 'int', 'long', 'number']"),
          "$type canonical names");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$type': 'bool'}}");
    CHECK(f && arg_is(f, "['bool']"), "$type single name becomes a list");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$exists': 1}}");
    CHECK(f && f->op == AD_FOP_EXISTS && f->arg && json_is_true(f->arg), "$exists 1 -> true");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$exists': false}}");
    CHECK(f && f->op == AD_FOP_EXISTS && f->arg && json_is_false(f->arg), "$exists false");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$size': 2.0}}");
    CHECK(f && f->op == AD_FOP_SIZE && f->arg && json_is_integer(f->arg) &&
              json_integer_value(f->arg) == 2,
          "$size 2.0 -> 2");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$all': [[1], 2]}, 'b': {'$in': []}}");
    CHECK(f && f->nkids == 2 && arg_is(f->kids[0], "[[1], 2]") && f->kids[0]->op == AD_FOP_ALL &&
              arg_is(f->kids[1], "[]") && f->kids[1]->op == AD_FOP_IN,
          "$all and $in keep their operands");
    ad_filter_free(f);

    f = parse_ok("{'$or': [{'a': 1}, {}], '$nor': [{'b': 2}]}");
    CHECK(f && f->op == AD_FOP_AND && f->nkids == 2 && f->kids[0]->op == AD_FOP_OR &&
              f->kids[0]->nkids == 2 && f->kids[0]->kids[1]->op == AD_FOP_TRUE &&
              f->kids[1]->op == AD_FOP_NOR && f->kids[1]->nkids == 1,
          "$or/$nor shape");
    ad_filter_free(f);

    f = parse_ok("{'a': {'$gte': 3, '$lte': 4.5, '$eq': 'x'}}");
    CHECK(f && f->nkids == 3 && f->kids[0]->op == AD_FOP_GTE && f->kids[1]->op == AD_FOP_LTE &&
              f->kids[2]->op == AD_FOP_EQ && arg_is(f->kids[1], "4.5"),
          "GTE, LTE, EQ");
    ad_filter_free(f);
}

/* The tree owns copies: it outlives the filter document. */
static void test_tree_independent(void)
{
    json_t *fdoc = js("{'a': {'$in': [1, 2]}, 'b': {'c': 1}}");
    json_t *doc = js("{'a': 2, 'b': {'c': 1}}");
    ad_filter *f = NULL;
    ad_error err = {0};
    CHECK(ad_filter_parse(fdoc, &f, &err) == AD_OK, "%s", err.msg);
    json_decref(fdoc);
    CHECK(ad_filter_match(f, doc, &err) == 1, "match after the filter document is gone");
    ad_filter_free(f);
    json_decref(doc);
}

static void test_api_edges(void)
{
    ad_filter *f = (ad_filter *)&f;
    ad_error err = {0};
    ad_filter_free(NULL);
    CHECK(ad_filter_parse(NULL, &f, &err) == AD_E_FILTER && f == NULL, "NULL filter document");
    CHECK(strstr(err.msg, "filter must be a JSON object") != NULL, "%s", err.msg);

    json_t *fdoc = js("{'$where': 1}");
    CHECK(ad_filter_parse(fdoc, &f, NULL) == AD_E_FILTER, "parse with no error record");
    json_decref(fdoc);

    CHECK(ad_filter_match(NULL, NULL, &err) == -1, "match without a filter");

    /* top-level document that is not an object: every path is missing */
    f = parse_ok("{'a': null}");
    json_t *scalar = json_integer(3);
    CHECK(ad_filter_match(f, scalar, &err) == 1, "scalar document: a is missing");
    json_decref(scalar);
    ad_filter_free(f);

    /* jansson's parser refuses NUL in keys, but a built object can have one */
    fdoc = json_object();
    json_object_setn_new(fdoc, "a\0b", 3, json_integer(1));
    json_object_setn_new(fdoc, "x", 1, json_object());
    json_object_setn_new(json_object_get(fdoc, "x"), "$gt\0", 4, json_integer(1));
    CHECK(parse_code(json_incref(fdoc), &err) == AD_E_FILTER &&
              strstr(err.msg, "field name contains a NUL byte"),
          "NUL in a field name: %s", err.msg);
    json_object_deln(fdoc, "a\0b", 3);
    CHECK(parse_code(fdoc, &err) == AD_E_FILTER &&
              strstr(err.msg, "x: operator name contains a NUL byte"),
          "NUL in an operator name: %s", err.msg);

    /* an error code maps to 400 invalid_filter */
    CHECK(ad_code_http_status(AD_E_FILTER) == 400, "status");
    CHECK_STR(ad_code_name(AD_E_FILTER), "invalid_filter");
}

int main(void)
{
    test_match_table();
    test_error_table();
    test_limit_depth();
    test_limit_nodes();
    test_limit_lists();
    test_limit_regex_and_path();
    test_regex_too_complex();
    test_tree_shape();
    test_tree_independent();
    test_api_edges();
    return check_summary("filter");
}
