/*
 * test_model.c — unit tests of the asset model (core/model.c): validation of
 * every field of every embedded type, the asset_id rule, update-body checks,
 * normalization (also under injected allocation failures) and camelCase
 * names.
 *
 * JSON in the tables is written with single quotes for readability; js()
 * turns them into double quotes before parsing (no test value needs an
 * apostrophe).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testjson.h"
#include "core/model.h"

/* The seed's curl example for POST /assets. */
static const char seed_asset[] = "{'asset_id': 'asset-001',"
                                 " 'asset_uri': 'models://example.com/asset-001',"
                                 " 'asset_version': 'v1',"
                                 " 'asset_profile_id': 'profile-001',"
                                 " 'asset_file_ids': [],"
                                 " 'profiles': [{'asset_profile_id': 'profile-001',"
                                 "   'asset_type': 'model', 'asset_sub_type': 'llm',"
                                 "   'asset_id': 'asset-001'}],"
                                 " 'policies': [], 'files': [], 'apis': [],"
                                 " 'index_mappings': []}";

/* Every field of every type filled in; files[1] has only required fields. */
static const char rich_asset[] =
    "{'asset_id': 'asset-001',"
    " 'asset_uri': 'models://example.com/asset-001',"
    " 'asset_version': 'v1',"
    " 'asset_profile_id': 'profile-001',"
    " 'asset_file_ids': ['file-001', 'file-002'],"
    " 'asset_container_uri': 'registry.example.com/llm:1',"
    " 'asset_policy_ids': ['policy-001'],"
    " 'asset_container_registry_creds_config': {'user': 'u', 'token': {'k': [1, 2.5, null]}},"
    " 'asset_workflow_id': 'wf-001',"
    " 'asset_api_ids': ['api-001'],"
    " 'asset_brief_description': 'A small language model',"
    " 'profiles': [{'asset_profile_id': 'profile-001', 'asset_type': 'model',"
    "   'asset_sub_type': 'llm', 'asset_id': 'asset-001',"
    "   'asset_metadata': {'params': 7000000000, 'nested': {'a': [true]}},"
    "   'asset_creator_info': {'org': 'example'},"
    "   'asset_tags': ['generative', 'text'],"
    "   'asset_description': 'long text',"
    "   'asset_complete_docs_url': 'https://docs.example.com',"
    "   'asset_man_page_url': 'https://man.example.com',"
    "   'asset_sample_input_json': {'prompt': 'hi'},"
    "   'asset_sample_output_json': {'text': 'hello'},"
    "   'asset_sample_input_data_url': 'https://example.com/in',"
    "   'asset_sample_output_data_url': 'https://example.com/out',"
    "   'asset_author_metadata': {'name': 'A. Author'}}],"
    " 'policies': [{'asset_policy_id': 'policy-001', 'asset_id': 'asset-001',"
    "   'asset_policy_type': 'access', 'asset_policy_rule_uri': 'https://example.com/rego',"
    "   'asset_policy_rule_config': {'mode': 'strict'},"
    "   'asset_policy_rule_params': {'max': 3}}],"
    " 'files': [{'asset_file_id': 'file-001', 'asset_file_type': 'weights',"
    "   'asset_file_mime_type': 'application/octet-stream',"
    "   'asset_file_url': 's3://bucket/w.bin', 'asset_file_metadata': {'sha256': 'ab'}},"
    "  {'asset_file_id': 'file-002', 'asset_file_type': 'config',"
    "   'asset_file_mime_type': 'application/json', 'asset_file_url': 's3://bucket/c.json'}],"
    " 'apis': [{'asset_api_id': 'api-001', 'asset_id': 'asset-001',"
    "   'asset_api_metadata': {'v': 1}, 'asset_api_svc': 'llm-svc',"
    "   'asset_api_route': 'api/v1/generate', 'asset_api_protocol': 'HTTP',"
    "   'asset_protocol_specific_config': {'method': 'POST'},"
    "   'asset_api_man_page': 'https://example.com/man',"
    "   'asset_api_swagger_doc': 'https://example.com/swagger.json',"
    "   'asset_api_usage_samples': [{'request': {'prompt': 'x'}}, {}]}],"
    " 'index_mappings': [{'json_doc_id': 'doc-1', 'mapping_field_index': 0,"
    "   'table_name': 'specs', 'field_name': 'params', 'render_page_no': 1,"
    "   'render_order_no': 2}]}";

/* ---- Whole documents ----------------------------------------------------- */

struct doc_case {
    const char *doc;
    const char *want; /* NULL: valid */
};

static const struct doc_case doc_cases[] = {
    {seed_asset, NULL},
    {rich_asset, NULL},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': []}",
     NULL},
    {"[]", "asset must be a JSON object"},
    {"null", "asset must be a JSON object"},
    {"'asset'", "asset must be a JSON object"},
    {"42", "asset must be a JSON object"},
    {"{}", "asset_id: required"},
    {"{'asset_ID': 'a'}", "asset_ID: unknown field"},
    /* first problem wins: top-level fields in schema order before embedded ones */
    {"{'asset_id': 'a', 'asset_version': 'v', 'asset_profile_id': 'p', 'asset_file_ids': [],"
     " 'profiles': [{}]}",
     "asset_uri: required"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'profiles': [{}], 'files': 3}",
     "profiles[0].asset_profile_id: required"},
    /* unknown keys are reported before missing ones at the same level */
    {"{'asset_id': 'a', 'zzz': 1}", "zzz: unknown field"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'profiles': [{'colour': 'red'}]}",
     "profiles[0].colour: unknown field"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'profiles': [{'asset_profile_id': 'p', 'asset_type': 't',"
     " 'asset_sub_type': 's', 'asset_id': 'a'}, {'asset_profile_id': 'p2',"
     " 'asset_sub_type': 's', 'asset_id': 'a'}]}",
     "profiles[1].asset_type: required"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'policies': [{}]}",
     "policies[0].asset_policy_id: required"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'files': [{}]}",
     "files[0].asset_file_id: required"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'apis': [{}]}",
     "apis[0].asset_api_id: required"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'index_mappings': [{}]}",
     "index_mappings[0].json_doc_id: required"},
    {"{'asset_id': 'a', 'asset_uri': 'u', 'asset_version': 'v', 'asset_profile_id': 'p',"
     " 'asset_file_ids': [], 'index_mappings': [3]}",
     "index_mappings[0]: must be an object"},
};

/* ---- Mutations of rich_asset --------------------------------------------- */

#define DEL NULL /* as a value: remove the field or element */

struct mut_case {
    const char *path;  /* "a", "a[i]", "a[i].b", "a[i].b.c" */
    const char *value; /* single-quoted JSON, or DEL */
    const char *want;  /* NULL: valid */
};

static const struct mut_case mut_cases[] = {
    /* Asset: required fields */
    {"asset_id", DEL, "asset_id: required"},
    {"asset_uri", DEL, "asset_uri: required"},
    {"asset_version", DEL, "asset_version: required"},
    {"asset_profile_id", DEL, "asset_profile_id: required"},
    {"asset_file_ids", DEL, "asset_file_ids: required"},
    {"asset_id", "null", "asset_id: must be a string"},
    {"asset_uri", "null", "asset_uri: must be a string"},
    {"asset_version", "null", "asset_version: must be a string"},
    {"asset_profile_id", "null", "asset_profile_id: must be a string"},
    {"asset_file_ids", "null", "asset_file_ids: must be a list of strings"},
    {"asset_id", "1", "asset_id: must be a string"},
    {"asset_uri", "[]", "asset_uri: must be a string"},
    {"asset_version", "{}", "asset_version: must be a string"},
    {"asset_version", "1.5", "asset_version: must be a string"},
    {"asset_profile_id", "true", "asset_profile_id: must be a string"},
    {"asset_file_ids", "'file-001'", "asset_file_ids: must be a list of strings"},
    {"asset_file_ids", "{}", "asset_file_ids: must be a list of strings"},
    {"asset_file_ids", "['a', 'b', 3]", "asset_file_ids[2]: must be a string"},
    {"asset_file_ids", "[null]", "asset_file_ids[0]: must be a string"},
    {"asset_file_ids", "[['a']]", "asset_file_ids[0]: must be a string"},
    {"asset_file_ids[1]", "{}", "asset_file_ids[1]: must be a string"},
    {"asset_file_ids", "[]", NULL},
    /* Asset: Optional[...] = None */
    {"asset_container_uri", DEL, NULL},
    {"asset_container_uri", "null", NULL},
    {"asset_container_uri", "5", "asset_container_uri: must be a string"},
    {"asset_container_registry_creds_config", DEL, NULL},
    {"asset_container_registry_creds_config", "null", NULL},
    {"asset_container_registry_creds_config", "{}", NULL},
    {"asset_container_registry_creds_config", "[]",
     "asset_container_registry_creds_config: must be an object"},
    {"asset_container_registry_creds_config", "'x'",
     "asset_container_registry_creds_config: must be an object"},
    {"asset_workflow_id", DEL, NULL},
    {"asset_workflow_id", "null", NULL},
    {"asset_workflow_id", "1.5", "asset_workflow_id: must be a string"},
    {"asset_brief_description", DEL, NULL},
    {"asset_brief_description", "null", NULL},
    {"asset_brief_description", "{}", "asset_brief_description: must be a string"},
    /* Asset: lists with a default: absent fine, null not */
    {"asset_policy_ids", DEL, NULL},
    {"asset_policy_ids", "null", "asset_policy_ids: must be a list of strings"},
    {"asset_policy_ids", "'p'", "asset_policy_ids: must be a list of strings"},
    {"asset_policy_ids", "['p', {}]", "asset_policy_ids[1]: must be a string"},
    {"asset_api_ids", DEL, NULL},
    {"asset_api_ids", "null", "asset_api_ids: must be a list of strings"},
    {"asset_api_ids", "[[]]", "asset_api_ids[0]: must be a string"},
    {"profiles", DEL, NULL},
    {"profiles", "[]", NULL},
    {"profiles", "null", "profiles: must be a list of objects"},
    {"profiles", "{}", "profiles: must be a list of objects"},
    {"profiles", "'x'", "profiles: must be a list of objects"},
    {"profiles", "['x']", "profiles[0]: must be an object"},
    {"profiles", "[[]]", "profiles[0]: must be an object"},
    {"policies", DEL, NULL},
    {"policies", "null", "policies: must be a list of objects"},
    {"policies", "[1]", "policies[0]: must be an object"},
    {"files", DEL, NULL},
    {"files", "null", "files: must be a list of objects"},
    {"files[1]", "null", "files[1]: must be an object"},
    {"apis", DEL, NULL},
    {"apis", "true", "apis: must be a list of objects"},
    {"apis", "null", "apis: must be a list of objects"},
    {"index_mappings", DEL, NULL},
    {"index_mappings", "null", "index_mappings: must be a list of objects"},
    {"index_mappings", "{}", "index_mappings: must be a list of objects"},
    /* unknown fields at every level; free-form dictionaries take any key */
    {"frobnicate", "1", "frobnicate: unknown field"},
    {"_id", "'x'", "_id: unknown field"},
    {"assetId", "'x'", "assetId: unknown field"},
    {"profiles[0].colour", "'red'", "profiles[0].colour: unknown field"},
    {"policies[0].asset_policy_owner", "'x'", "policies[0].asset_policy_owner: unknown field"},
    {"files[1].asset_file_size", "12", "files[1].asset_file_size: unknown field"},
    {"apis[0].asset_api_version", "'v2'", "apis[0].asset_api_version: unknown field"},
    {"index_mappings[0].page", "1", "index_mappings[0].page: unknown field"},
    {"profiles[0].asset_metadata.colour", "'red'", NULL},
    {"asset_container_registry_creds_config.anything", "[1, {}]", NULL},
    {"apis[0].asset_api_usage_samples[1].whatever", "null", NULL},
    /* asset_id rule */
    {"asset_id", "''", "asset_id: must not be empty"},
    {"asset_id", "'a/b'", "asset_id: must not contain '/'"},
    {"asset_id", "'/'", "asset_id: must not contain '/'"},
    {"asset_id", "'a\\u0001b'", "asset_id: must not contain control characters"},
    {"asset_id", "'a\\u007f'", "asset_id: must not contain control characters"},
    {"asset_id", "'tab\\there'", "asset_id: must not contain control characters"},
    {"asset_id", "'nl\\n'", "asset_id: must not contain control characters"},
    {"asset_id", "'nul\\u0000x'", "asset_id: must not contain control characters"},
    {"asset_id", "'mod\\u00e8le-\\u6a21\\u578b-\\ud83d\\ude00'", NULL},
    {"asset_id", "'with space'", NULL},
    {"asset_id", "'a.b_c-d:e@f'", NULL},
    /* embedded asset_id back-references are plain strings */
    {"profiles[0].asset_id", "'a/b'", NULL},
    {"policies[0].asset_id", "'other'", NULL},
    /* AssetProfile */
    {"profiles[0].asset_profile_id", DEL, "profiles[0].asset_profile_id: required"},
    {"profiles[0].asset_type", DEL, "profiles[0].asset_type: required"},
    {"profiles[0].asset_sub_type", DEL, "profiles[0].asset_sub_type: required"},
    {"profiles[0].asset_id", DEL, "profiles[0].asset_id: required"},
    {"profiles[0].asset_profile_id", "{}", "profiles[0].asset_profile_id: must be a string"},
    {"profiles[0].asset_type", "3", "profiles[0].asset_type: must be a string"},
    {"profiles[0].asset_type", "null", "profiles[0].asset_type: must be a string"},
    {"profiles[0].asset_sub_type", "null", "profiles[0].asset_sub_type: must be a string"},
    {"profiles[0].asset_id", "[]", "profiles[0].asset_id: must be a string"},
    {"profiles[0].asset_metadata", DEL, NULL},
    {"profiles[0].asset_metadata", "null", NULL},
    {"profiles[0].asset_metadata", "[]", "profiles[0].asset_metadata: must be an object"},
    {"profiles[0].asset_metadata", "'x'", "profiles[0].asset_metadata: must be an object"},
    {"profiles[0].asset_creator_info", DEL, NULL},
    {"profiles[0].asset_creator_info", "null", NULL},
    {"profiles[0].asset_creator_info", "1", "profiles[0].asset_creator_info: must be an object"},
    {"profiles[0].asset_tags", DEL, NULL},
    {"profiles[0].asset_tags", "null", NULL},
    {"profiles[0].asset_tags", "[]", NULL},
    {"profiles[0].asset_tags", "'x'", "profiles[0].asset_tags: must be a list of strings"},
    {"profiles[0].asset_tags", "{}", "profiles[0].asset_tags: must be a list of strings"},
    {"profiles[0].asset_tags", "['a', 1]", "profiles[0].asset_tags[1]: must be a string"},
    {"profiles[0].asset_tags", "[null]", "profiles[0].asset_tags[0]: must be a string"},
    {"profiles[0].asset_description", DEL, NULL},
    {"profiles[0].asset_description", "null", NULL},
    {"profiles[0].asset_description", "1", "profiles[0].asset_description: must be a string"},
    {"profiles[0].asset_complete_docs_url", DEL, NULL},
    {"profiles[0].asset_complete_docs_url", "{}",
     "profiles[0].asset_complete_docs_url: must be a string"},
    {"profiles[0].asset_man_page_url", "null", NULL},
    {"profiles[0].asset_man_page_url", "[]", "profiles[0].asset_man_page_url: must be a string"},
    {"profiles[0].asset_sample_input_json", DEL, NULL},
    {"profiles[0].asset_sample_input_json", "'x'",
     "profiles[0].asset_sample_input_json: must be an object"},
    {"profiles[0].asset_sample_output_json", "null", NULL},
    {"profiles[0].asset_sample_output_json", "[1]",
     "profiles[0].asset_sample_output_json: must be an object"},
    {"profiles[0].asset_sample_input_data_url", DEL, NULL},
    {"profiles[0].asset_sample_input_data_url", "true",
     "profiles[0].asset_sample_input_data_url: must be a string"},
    {"profiles[0].asset_sample_output_data_url", "null", NULL},
    {"profiles[0].asset_sample_output_data_url", "2.5",
     "profiles[0].asset_sample_output_data_url: must be a string"},
    {"profiles[0].asset_author_metadata", DEL, NULL},
    {"profiles[0].asset_author_metadata", "'a'",
     "profiles[0].asset_author_metadata: must be an object"},
    /* AssetPolicy */
    {"policies[0].asset_policy_id", DEL, "policies[0].asset_policy_id: required"},
    {"policies[0].asset_id", DEL, "policies[0].asset_id: required"},
    {"policies[0].asset_policy_type", DEL, "policies[0].asset_policy_type: required"},
    {"policies[0].asset_policy_id", "7", "policies[0].asset_policy_id: must be a string"},
    {"policies[0].asset_id", "null", "policies[0].asset_id: must be a string"},
    {"policies[0].asset_policy_type", "null", "policies[0].asset_policy_type: must be a string"},
    {"policies[0].asset_policy_rule_uri", DEL, NULL},
    {"policies[0].asset_policy_rule_uri", "null", NULL},
    {"policies[0].asset_policy_rule_uri", "1",
     "policies[0].asset_policy_rule_uri: must be a string"},
    {"policies[0].asset_policy_rule_config", DEL, NULL},
    {"policies[0].asset_policy_rule_config", "null", NULL},
    {"policies[0].asset_policy_rule_config", "'x'",
     "policies[0].asset_policy_rule_config: must be an object"},
    {"policies[0].asset_policy_rule_params", DEL, NULL},
    {"policies[0].asset_policy_rule_params", "null", NULL},
    {"policies[0].asset_policy_rule_params", "[]",
     "policies[0].asset_policy_rule_params: must be an object"},
    /* AssetFile */
    {"files[1].asset_file_id", DEL, "files[1].asset_file_id: required"},
    {"files[1].asset_file_type", DEL, "files[1].asset_file_type: required"},
    {"files[1].asset_file_mime_type", DEL, "files[1].asset_file_mime_type: required"},
    {"files[1].asset_file_url", DEL, "files[1].asset_file_url: required"},
    {"files[0].asset_file_id", "[]", "files[0].asset_file_id: must be a string"},
    {"files[0].asset_file_type", "null", "files[0].asset_file_type: must be a string"},
    {"files[0].asset_file_mime_type", "null", "files[0].asset_file_mime_type: must be a string"},
    {"files[0].asset_file_url", "1", "files[0].asset_file_url: must be a string"},
    {"files[0].asset_file_metadata", DEL, NULL},
    {"files[0].asset_file_metadata", "null", NULL},
    {"files[1].asset_file_metadata", "[]", "files[1].asset_file_metadata: must be an object"},
    {"files[1].asset_file_metadata", "'sha'", "files[1].asset_file_metadata: must be an object"},
    /* AssetAPI */
    {"apis[0].asset_api_id", DEL, "apis[0].asset_api_id: required"},
    {"apis[0].asset_id", DEL, "apis[0].asset_id: required"},
    {"apis[0].asset_api_id", "null", "apis[0].asset_api_id: must be a string"},
    {"apis[0].asset_id", "1", "apis[0].asset_id: must be a string"},
    {"apis[0].asset_api_metadata", DEL, NULL},
    {"apis[0].asset_api_metadata", "null", NULL},
    {"apis[0].asset_api_metadata", "'x'", "apis[0].asset_api_metadata: must be an object"},
    {"apis[0].asset_api_svc", DEL, NULL},
    {"apis[0].asset_api_svc", "1", "apis[0].asset_api_svc: must be a string"},
    {"apis[0].asset_api_route", "null", NULL},
    {"apis[0].asset_api_route", "[]", "apis[0].asset_api_route: must be a string"},
    {"apis[0].asset_api_protocol", DEL, NULL},
    {"apis[0].asset_api_protocol", "{}", "apis[0].asset_api_protocol: must be a string"},
    {"apis[0].asset_protocol_specific_config", DEL, NULL},
    {"apis[0].asset_protocol_specific_config", "'grpc'",
     "apis[0].asset_protocol_specific_config: must be an object"},
    {"apis[0].asset_api_man_page", "null", NULL},
    {"apis[0].asset_api_man_page", "true", "apis[0].asset_api_man_page: must be a string"},
    {"apis[0].asset_api_swagger_doc", DEL, NULL},
    {"apis[0].asset_api_swagger_doc", "1.5", "apis[0].asset_api_swagger_doc: must be a string"},
    {"apis[0].asset_api_usage_samples", DEL, NULL},
    {"apis[0].asset_api_usage_samples", "null", NULL},
    {"apis[0].asset_api_usage_samples", "[]", NULL},
    {"apis[0].asset_api_usage_samples", "'x'",
     "apis[0].asset_api_usage_samples: must be a list of objects"},
    {"apis[0].asset_api_usage_samples", "{}",
     "apis[0].asset_api_usage_samples: must be a list of objects"},
    {"apis[0].asset_api_usage_samples", "[{}, 'x']",
     "apis[0].asset_api_usage_samples[1]: must be an object"},
    {"apis[0].asset_api_usage_samples", "[[]]",
     "apis[0].asset_api_usage_samples[0]: must be an object"},
    {"apis[0].asset_api_usage_samples", "[null]",
     "apis[0].asset_api_usage_samples[0]: must be an object"},
    /* IndexMapping: every field required */
    {"index_mappings[0].json_doc_id", DEL, "index_mappings[0].json_doc_id: required"},
    {"index_mappings[0].mapping_field_index", DEL,
     "index_mappings[0].mapping_field_index: required"},
    {"index_mappings[0].table_name", DEL, "index_mappings[0].table_name: required"},
    {"index_mappings[0].field_name", DEL, "index_mappings[0].field_name: required"},
    {"index_mappings[0].render_page_no", DEL, "index_mappings[0].render_page_no: required"},
    {"index_mappings[0].render_order_no", DEL, "index_mappings[0].render_order_no: required"},
    {"index_mappings[0].json_doc_id", "1", "index_mappings[0].json_doc_id: must be a string"},
    {"index_mappings[0].table_name", "null", "index_mappings[0].table_name: must be a string"},
    {"index_mappings[0].field_name", "[]", "index_mappings[0].field_name: must be a string"},
    {"index_mappings[0].render_page_no", "1.5",
     "index_mappings[0].render_page_no: must be an integer"},
    {"index_mappings[0].render_page_no", "1.0",
     "index_mappings[0].render_page_no: must be an integer"},
    {"index_mappings[0].render_page_no", "true",
     "index_mappings[0].render_page_no: must be an integer"},
    {"index_mappings[0].render_page_no", "'3'",
     "index_mappings[0].render_page_no: must be an integer"},
    {"index_mappings[0].render_page_no", "null",
     "index_mappings[0].render_page_no: must be an integer"},
    {"index_mappings[0].render_page_no", "[1]",
     "index_mappings[0].render_page_no: must be an integer"},
    {"index_mappings[0].render_order_no", "false",
     "index_mappings[0].render_order_no: must be an integer"},
    {"index_mappings[0].render_order_no", "1e2",
     "index_mappings[0].render_order_no: must be an integer"},
    {"index_mappings[0].mapping_field_index", "{}",
     "index_mappings[0].mapping_field_index: must be an integer"},
    {"index_mappings[0].mapping_field_index", "-1", NULL},
    {"index_mappings[0].mapping_field_index", "9007199254740993", NULL},
    {"index_mappings[0].render_page_no", "0", NULL},
};

/* Applies one mutation to doc; 0 on success. */
static int mutate(json_t *doc, const char *path, const char *value)
{
    char buf[256];
    char *seg = buf;
    json_t *cur = doc;

    snprintf(buf, sizeof(buf), "%s", path);
    for (;;) {
        char *dot = strchr(seg, '.');
        char *br = strchr(seg, '[');
        size_t idx = 0;
        json_t *v = NULL;

        if (dot) *dot = '\0';
        if (br && (!dot || br < dot)) {
            *br = '\0';
            idx = strtoul(br + 1, NULL, 10);
        } else {
            br = NULL;
        }
        if (!dot) {
            json_t *arr = br ? json_object_get(cur, seg) : NULL;
            if (value && !(v = js(value))) return -1;
            if (!br) return v ? json_object_set_new(cur, seg, v) : json_object_del(cur, seg);
            return v ? json_array_set_new(arr, idx, v) : json_array_remove(arr, idx);
        }
        cur = json_object_get(cur, seg);
        if (br) cur = json_array_get(cur, idx);
        if (!cur) return -1;
        seg = dot + 1;
    }
}

/* Checks one validation result against want (NULL: valid). */
static void expect(const char *what, ad_code rc, const ad_error *err, const char *want)
{
    if (!want) {
        CHECK(rc == AD_OK, "%s: want valid, got \"%s\"", what, err->msg);
        return;
    }
    CHECK(rc == AD_E_INVALID && err->code == AD_E_INVALID, "%s: want \"%s\", got rc %d", what, want,
          (int)rc);
    CHECK(strcmp(err->msg, want) == 0, "%s: got \"%s\", want \"%s\"", what, err->msg, want);
}

static void test_documents(void)
{
    for (size_t i = 0; i < sizeof(doc_cases) / sizeof(doc_cases[0]); i++) {
        const struct doc_case *c = &doc_cases[i];
        json_t *doc = js(c->doc);
        ad_error err = {0};
        char what[64];

        snprintf(what, sizeof(what), "doc_cases[%zu]", i);
        CHECK(doc != NULL, "%s: bad JSON", what);
        if (!doc) continue;
        expect(what, ad_asset_validate(doc, &err), &err, c->want);
        json_decref(doc);
    }
}

static void test_mutations(void)
{
    for (size_t i = 0; i < sizeof(mut_cases) / sizeof(mut_cases[0]); i++) {
        const struct mut_case *c = &mut_cases[i];
        json_t *doc = js(rich_asset);
        ad_error err = {0};
        char what[160];

        snprintf(what, sizeof(what), "%s = %s", c->path, c->value ? c->value : "(deleted)");
        if (!doc || mutate(doc, c->path, c->value) != 0) {
            CHECK(0, "%s: cannot apply", what);
            json_decref(doc);
            continue;
        }
        expect(what, ad_asset_validate(doc, &err), &err, c->want);
        json_decref(doc);
    }
}

/* ---- asset_id rule ------------------------------------------------------- */

static void test_asset_id(void)
{
    char id[AD_ASSET_ID_MAX + 2];
    ad_error err = {0};
    json_t *doc;

    memset(id, 'a', sizeof(id));
    id[AD_ASSET_ID_MAX + 1] = '\0';
    CHECK(ad_asset_id_check(id, AD_ASSET_ID_MAX, &err) == AD_OK, "256 bytes: %s", err.msg);
    CHECK(ad_asset_id_check(id, AD_ASSET_ID_MAX + 1, &err) == AD_E_INVALID, "257 bytes");
    CHECK_STR(err.msg, "asset_id: longer than 256 bytes");
    CHECK(ad_asset_id_check("", 0, &err) == AD_E_INVALID, "empty");
    CHECK_STR(err.msg, "asset_id: must not be empty");
    CHECK(ad_asset_id_check(NULL, 0, &err) == AD_E_INVALID, "NULL");
    CHECK_STR(err.msg, "asset_id: must not be empty");
    CHECK(ad_asset_id_check("a\0b", 3, &err) == AD_E_INVALID, "embedded NUL");
    CHECK_STR(err.msg, "asset_id: must not contain control characters");
    CHECK(ad_asset_id_check("a/\x01", 3, &err) == AD_E_INVALID, "first offending byte");
    CHECK_STR(err.msg, "asset_id: must not contain '/'");
    CHECK(ad_asset_id_check("\x1f", 1, &err) == AD_E_INVALID, "0x1f");
    CHECK(ad_asset_id_check(" ~", 2, &err) == AD_OK, "0x20 and 0x7e are fine");
    CHECK(ad_asset_id_check("\xc3\xa9\xe6\xa8\xa1", 5, &err) == AD_OK, "UTF-8 multibyte");
    CHECK(ad_asset_id_check("asset-001", 9, NULL) == AD_OK, "NULL err ok");
    CHECK(ad_asset_id_check("", 0, NULL) == AD_E_INVALID, "NULL err on failure");

    /* The same limits through a whole document. */
    doc = js(seed_asset);
    CHECK(doc != NULL, "seed");
    if (!doc) return;
    json_object_set_new(doc, "asset_id", json_stringn(id, AD_ASSET_ID_MAX));
    CHECK(ad_asset_validate(doc, &err) == AD_OK, "256-byte id in a doc: %s", err.msg);
    json_object_set_new(doc, "asset_id", json_stringn(id, AD_ASSET_ID_MAX + 1));
    CHECK(ad_asset_validate(doc, &err) == AD_E_INVALID, "257-byte id in a doc");
    CHECK_STR(err.msg, "asset_id: longer than 256 bytes");
    /* A 128-character id of 2-byte UTF-8 characters is 256 bytes; one more is not. */
    {
        char u[2 * 129 + 1];
        for (size_t i = 0; i < 129; i++) {
            u[2 * i] = (char)0xc3;
            u[2 * i + 1] = (char)0xa9;
        }
        json_object_set_new(doc, "asset_id", json_stringn(u, 256));
        CHECK(ad_asset_validate(doc, &err) == AD_OK, "128 x U+00E9: %s", err.msg);
        json_object_set_new(doc, "asset_id", json_stringn(u, 258));
        CHECK(ad_asset_validate(doc, &err) == AD_E_INVALID, "129 x U+00E9");
        CHECK_STR(err.msg, "asset_id: longer than 256 bytes");
    }
    CHECK(ad_asset_validate(doc, NULL) == AD_E_INVALID, "NULL err on failure");
    json_decref(doc);
}

/* ---- Update bodies ------------------------------------------------------- */

struct patch_case {
    const char *patch;
    const char *path_id;
    const char *want;
};

static const struct patch_case patch_cases[] = {
    {"{}", "asset-001", NULL},
    {"{'asset_brief_description': 'Updated description'}", "asset-001", NULL},
    {"{'asset_id': 'asset-001'}", "asset-001", NULL},
    {"{'asset_id': 'asset-001', 'asset_version': 'v2'}", "asset-001", NULL},
    {"{'asset_id': 'asset-002'}", "asset-001", "asset_id: must match the asset_id in the path"},
    {"{'asset_id': 'asset-00'}", "asset-001", "asset_id: must match the asset_id in the path"},
    {"{'asset_id': 'asset-001\\u0000'}", "asset-001",
     "asset_id: must match the asset_id in the path"},
    {"{'asset_id': 'asset-001'}", NULL, "asset_id: must match the asset_id in the path"},
    {"{'asset_id': 1}", "asset-001", "asset_id: must be a string"},
    {"{'asset_id': null}", "asset-001", "asset_id: must be a string"},
    {"{'frobnicate': 1}", "asset-001", "frobnicate: unknown field"},
    {"{'asset_brief_description': 'x', 'bad': 1}", "asset-001", "bad: unknown field"},
    {"{'bad': 1, 'asset_id': 'other'}", "asset-001", "bad: unknown field"},
    {"{'asset_id': 'other', 'bad': 1}", "asset-001", "bad: unknown field"},
    /* values are checked on the merged document, not here */
    {"{'profiles': 'anything'}", "asset-001", NULL},
    {"{'profiles': [{'colour': 1}]}", "asset-001", NULL},
    {"{'index_mappings': null}", "asset-001", NULL},
    {"[]", "asset-001", "update body must be a JSON object"},
    {"null", "asset-001", "update body must be a JSON object"},
    {"'x'", "asset-001", "update body must be a JSON object"},
};

static void test_patches(void)
{
    for (size_t i = 0; i < sizeof(patch_cases) / sizeof(patch_cases[0]); i++) {
        const struct patch_case *c = &patch_cases[i];
        json_t *patch = js(c->patch);
        ad_error err = {0};
        char what[64];

        snprintf(what, sizeof(what), "patch_cases[%zu]", i);
        CHECK(patch != NULL, "%s: bad JSON", what);
        if (!patch) continue;
        expect(what, ad_asset_validate_patch(patch, c->path_id, &err), &err, c->want);
        json_decref(patch);
    }
}

/* A hostile key is cut in the message so the suffix survives. */
static void test_long_unknown_key(void)
{
    char key[1000], want[260];
    json_t *doc = json_object();
    ad_error err = {0};

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(want, sizeof(want), "%.200s: unknown field", key);
    json_object_set_new(doc, key, json_true());
    CHECK(ad_asset_validate(doc, &err) == AD_E_INVALID, "long key");
    CHECK_STR(err.msg, want);
    CHECK(ad_asset_validate_patch(doc, "a", &err) == AD_E_INVALID, "long key in patch");
    CHECK_STR(err.msg, want);
    json_decref(doc);

    /* cut on a character boundary: 199 ASCII bytes, then 2-byte characters */
    memset(key, 'k', 199);
    for (size_t i = 199; i < 799; i += 2) {
        key[i] = (char)0xc3;
        key[i + 1] = (char)0xa9;
    }
    key[799] = '\0';
    doc = json_object();
    CHECK(json_object_set_new(doc, key, json_true()) == 0, "UTF-8 key accepted");
    snprintf(want, sizeof(want), "%.199s: unknown field", key);
    CHECK(ad_asset_validate(doc, &err) == AD_E_INVALID, "long UTF-8 key");
    CHECK_STR(err.msg, want);
    {
        json_t *msg = json_string(err.msg); /* NULL if not valid UTF-8 */
        CHECK(msg != NULL, "message is valid UTF-8");
        json_decref(msg);
    }
    json_decref(doc);
}

/* ---- Schema table -------------------------------------------------------- */

static void test_schema(void)
{
    const ad_schema *s = &ad_schema_asset;
    size_t n = 0;
    static const struct {
        const char *list;
        const char *type;
        size_t nfields;
    } embeds[] = {
        {"profiles", "AssetProfile", 15},
        {"policies", "AssetPolicy", 6},
        {"files", "AssetFile", 5},
        {"apis", "AssetAPI", 10},
        {"index_mappings", "IndexMapping", 6},
    };

    while (ad_asset_fields[n]) n++;
    CHECK(n == 16 && s->nfields == 16, "Asset has 16 fields (list %zu, table %zu)", n, s->nfields);
    for (size_t i = 0; i < n && i < s->nfields; i++) {
        CHECK_STR(ad_asset_fields[i], s->fields[i].name);
    }
    CHECK_STR(s->name, "Asset");
    for (size_t i = 0; i < sizeof(embeds) / sizeof(embeds[0]); i++) {
        const ad_field *f = ad_schema_field(s, embeds[i].list);
        CHECK(f && f->kind == AD_FK_EMBED_LIST && f->presence == AD_DEFAULTED && f->embed, "%s",
              embeds[i].list);
        if (!f || !f->embed) continue;
        CHECK_STR(f->embed->name, embeds[i].type);
        CHECK(f->embed->nfields == embeds[i].nfields, "%s has %zu fields", embeds[i].type,
              f->embed->nfields);
    }
    CHECK(ad_schema_field(s, "colour") == NULL, "no such field");
    CHECK(ad_schema_field(NULL, "asset_id") == NULL, "NULL schema");
    CHECK(ad_schema_field(s, "asset_tags") == NULL, "asset_tags is AssetProfile's");
    {
        const ad_schema *p = ad_schema_field(s, "profiles")->embed;
        const ad_field *tags = ad_schema_field(p, "asset_tags");
        const ad_field *samples =
            ad_schema_field(ad_schema_field(s, "apis")->embed, "asset_api_usage_samples");
        CHECK(tags && tags->kind == AD_FK_STR_LIST && tags->presence == AD_OPT_DEFAULTED,
              "asset_tags");
        CHECK(samples && samples->kind == AD_FK_OBJ_LIST && samples->presence == AD_OPT_DEFAULTED,
              "asset_api_usage_samples");
    }
}

/* ---- camelCase ----------------------------------------------------------- */

static void test_camel(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"asset_id", "assetId"},
        {"index_mappings", "indexMappings"},
        {"asset_container_registry_creds_config", "assetContainerRegistryCredsConfig"},
        {"asset_api_usage_samples", "assetApiUsageSamples"},
        {"profiles", "profiles"},
        {"render_page_no", "renderPageNo"},
        {"_id", "_id"},
        {"a__b", "a__b"},
        {"a_", "a_"},
        {"a_1", "a1"},
        {"", ""},
    };
    char out[64], tiny[8];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_STR(ad_field_camel(cases[i].in, out, sizeof(out)), cases[i].out);
    }
    CHECK(ad_field_camel("asset_id", tiny, 8) == tiny, "exact fit");
    CHECK(strcmp(tiny, "assetId") == 0, "got %s", tiny);
    CHECK(ad_field_camel("asset_uri", tiny, 8) == NULL, "too small");
    CHECK(strlen(tiny) < sizeof(tiny), "terminated");
    CHECK(ad_field_camel(NULL, out, sizeof(out)) == NULL, "NULL in");
    CHECK(ad_field_camel("x", out, 0) == NULL, "zero size");
    /* every field name of every type maps to a distinct, underscore-free name */
    for (size_t i = 0; i < ad_schema_asset.nfields; i++) {
        const ad_field *f = &ad_schema_asset.fields[i];
        const ad_schema *e = f->embed;
        CHECK(ad_field_camel(f->name, out, sizeof(out)) && !strchr(out, '_'), "%s", f->name);
        for (size_t j = 0; e && j < e->nfields; j++) {
            CHECK(ad_field_camel(e->fields[j].name, out, sizeof(out)) && !strchr(out, '_'), "%s.%s",
                  f->name, e->fields[j].name);
        }
    }
}

/* ---- Normalization ------------------------------------------------------- */

/* 1 when obj's keys are exactly s's fields in order. */
static int in_schema_order(const json_t *obj, const ad_schema *s)
{
    json_t *o = (json_t *)obj;
    size_t i = 0;

    if (json_object_size(obj) != s->nfields) return 0;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        if (strcmp(json_object_iter_key(it), s->fields[i++].name) != 0) return 0;
    }
    return 1;
}

static const ad_schema *embed_of(const char *list)
{
    return ad_schema_field(&ad_schema_asset, list)->embed;
}

static void test_normalize_seed(void)
{
    json_t *doc = js(seed_asset);
    char *before = json_dumps(doc, JSON_COMPACT);
    json_t *n = ad_asset_normalize(doc);
    char *after = json_dumps(doc, JSON_COMPACT);
    const json_t *p;
    ad_error err = {0};

    CHECK(n != NULL, "normalize seed");
    if (!n || !before || !after) goto out;
    CHECK(strcmp(before, after) == 0, "original not modified");
    CHECK(json_object_size(doc) == 10, "original keeps its 10 keys");
    CHECK(in_schema_order(n, &ad_schema_asset), "top-level order");
    CHECK(json_is_null(json_object_get(n, "asset_container_uri")), "absent str -> null");
    CHECK(json_is_null(json_object_get(n, "asset_container_registry_creds_config")),
          "absent dict -> null");
    CHECK(json_is_null(json_object_get(n, "asset_workflow_id")), "workflow null");
    CHECK(json_is_null(json_object_get(n, "asset_brief_description")), "brief null");
    CHECK(json_is_array(json_object_get(n, "asset_policy_ids")) &&
              json_array_size(json_object_get(n, "asset_policy_ids")) == 0,
          "absent list -> []");
    CHECK(json_is_array(json_object_get(n, "asset_api_ids")), "asset_api_ids []");
    CHECK_STR(json_string_value(json_object_get(n, "asset_id")), "asset-001");
    p = json_array_get(json_object_get(n, "profiles"), 0);
    CHECK(in_schema_order(p, embed_of("profiles")), "profile order");
    CHECK(json_is_array(json_object_get(p, "asset_tags")) &&
              json_array_size(json_object_get(p, "asset_tags")) == 0,
          "asset_tags absent -> []");
    CHECK(json_is_null(json_object_get(p, "asset_metadata")), "asset_metadata null");
    CHECK(json_is_null(json_object_get(p, "asset_author_metadata")), "author null");
    CHECK_STR(json_string_value(json_object_get(p, "asset_sub_type")), "llm");
    CHECK(ad_asset_validate(n, &err) == AD_OK, "normalized form is valid: %s", err.msg);
out:
    free(before);
    free(after);
    json_decref(n);
    json_decref(doc);
}

/* Fields given out of order, nested objects minimal: all reordered and filled. */
static void test_normalize_nested(void)
{
    json_t *doc = js("{'index_mappings': [{'render_order_no': 2, 'render_page_no': 1,"
                     "  'field_name': 'f', 'table_name': 't', 'mapping_field_index': 0,"
                     "  'json_doc_id': 'd'}],"
                     " 'apis': [{'asset_id': 'a', 'asset_api_id': 'x'},"
                     "  {'asset_api_usage_samples': null, 'asset_api_id': 'y', 'asset_id': 'a'}],"
                     " 'files': [{'asset_file_metadata': {'z': 1, 'a': {'q': [1, 'two']}},"
                     "  'asset_file_url': 'u', 'asset_file_mime_type': 'm',"
                     "  'asset_file_type': 't', 'asset_file_id': 'f'}],"
                     " 'policies': [{'asset_policy_type': 'access', 'asset_id': 'a',"
                     "  'asset_policy_id': 'p'}],"
                     " 'profiles': [{'asset_tags': null, 'asset_id': 'a', 'asset_sub_type': 's',"
                     "  'asset_type': 't', 'asset_profile_id': 'p'}],"
                     " 'asset_file_ids': ['f'], 'asset_profile_id': 'p', 'asset_version': 'v',"
                     " 'asset_uri': 'u', 'asset_id': 'a', 'asset_policy_ids': ['p']}");
    json_t *n = ad_asset_normalize(doc);
    const json_t *api0, *api1, *file, *meta, *prof;
    ad_error err = {0};

    CHECK(doc && ad_asset_validate(doc, &err) == AD_OK, "nested input valid: %s", err.msg);
    CHECK(n != NULL, "normalize nested");
    if (!n) goto out;
    CHECK(in_schema_order(n, &ad_schema_asset), "top-level reordered");
    CHECK(in_schema_order(json_array_get(json_object_get(n, "index_mappings"), 0),
                          embed_of("index_mappings")),
          "index mapping reordered");
    CHECK(json_integer_value(json_object_get(
              json_array_get(json_object_get(n, "index_mappings"), 0), "render_order_no")) == 2,
          "integer kept");
    api0 = json_array_get(json_object_get(n, "apis"), 0);
    api1 = json_array_get(json_object_get(n, "apis"), 1);
    CHECK(in_schema_order(api0, embed_of("apis")), "api reordered");
    CHECK(in_schema_order(api1, embed_of("apis")), "second api reordered");
    CHECK(json_is_array(json_object_get(api0, "asset_api_usage_samples")),
          "usage samples absent -> []");
    CHECK(json_is_null(json_object_get(api1, "asset_api_usage_samples")),
          "usage samples null kept");
    CHECK(json_is_null(json_object_get(api0, "asset_api_route")), "route null");
    file = json_array_get(json_object_get(n, "files"), 0);
    CHECK(in_schema_order(file, embed_of("files")), "file reordered");
    meta = json_object_get(file, "asset_file_metadata");
    CHECK(json_equal(meta, json_object_get(json_array_get(json_object_get(doc, "files"), 0),
                                           "asset_file_metadata")),
          "dict contents kept");
    CHECK(meta != json_object_get(json_array_get(json_object_get(doc, "files"), 0),
                                  "asset_file_metadata"),
          "dict deep-copied");
    {
        char *m = json_dumps(meta, JSON_COMPACT);
        CHECK_STR(m, "{\"z\":1,\"a\":{\"q\":[1,\"two\"]}}");
        free(m);
    }
    CHECK(in_schema_order(json_array_get(json_object_get(n, "policies"), 0), embed_of("policies")),
          "policy reordered");
    prof = json_array_get(json_object_get(n, "profiles"), 0);
    CHECK(in_schema_order(prof, embed_of("profiles")), "profile reordered");
    CHECK(json_is_null(json_object_get(prof, "asset_tags")), "asset_tags null kept");
    CHECK(json_array_size(json_object_get(n, "asset_policy_ids")) == 1, "given list kept");
    CHECK(ad_asset_validate(n, &err) == AD_OK, "normalized valid: %s", err.msg);
out:
    json_decref(n);
    json_decref(doc);
}

/* The rich document is already canonical: normalizing changes nothing, and
 * normalizing twice is the same as once. */
static void test_normalize_idempotent(void)
{
    json_t *doc = js(rich_asset);
    json_t *n1 = ad_asset_normalize(doc);
    json_t *n2 = ad_asset_normalize(n1);
    char *d = json_dumps(doc, JSON_COMPACT), *s1 = json_dumps(n1, JSON_COMPACT),
         *s2 = json_dumps(n2, JSON_COMPACT);

    CHECK(d && s1 && s2, "dumps");
    if (d && s1 && s2) {
        CHECK(strcmp(d, s1) != 0, "files[1] lacks asset_file_metadata");
        free(d);
        /* with it, the rich document is canonical */
        mutate(doc, "files[1].asset_file_metadata", "null");
        d = json_dumps(doc, JSON_COMPACT);
        CHECK(d && strcmp(d, s1) == 0, "rich doc is canonical");
        CHECK(strcmp(s1, s2) == 0, "idempotent");
    }
    CHECK(n1 != doc && n1 && n1->refcount == 1, "a new reference");
    CHECK(ad_asset_normalize(NULL) == NULL, "NULL in");
    free(d);
    free(s1);
    free(s2);
    json_decref(n2);
    json_decref(n1);
    json_decref(doc);
}

/* Fault injection: fail the k-th allocation for k = 0, 1, ... until
 * normalization succeeds; every failure must return NULL without a leak. */
static long alloc_budget = -1; /* < 0: unlimited */

static void *failing_malloc(size_t n)
{
    if (alloc_budget == 0) return NULL;
    if (alloc_budget > 0) alloc_budget--;
    return malloc(n);
}

static void test_normalize_oom(void)
{
    json_t *doc = js(rich_asset);
    json_t *want = ad_asset_normalize(doc);
    json_t *n = NULL;
    long k;
    int nulls = 0;

    CHECK(doc && want, "rich");
    if (!doc || !want) goto out;
    json_set_alloc_funcs(failing_malloc, free);
    for (k = 0; k < 10000; k++) {
        alloc_budget = k;
        n = ad_asset_normalize(doc);
        if (n) break;
        nulls++;
    }
    alloc_budget = -1;
    CHECK(n != NULL && nulls > 50, "succeeds after %d injected failures", nulls);
    if (n) CHECK(json_equal(n, want), "result after failures is right");
    json_decref(n);
    json_set_alloc_funcs(malloc, free);
out:
    json_decref(want);
    json_decref(doc);
}

static void test_string_paths(void)
{
    static const struct {
        const char *path;
        bool want;
    } cases[] = {
        {"asset_id", true},
        {"asset_file_ids", true},
        {"asset_brief_description", true},
        {"profiles.asset_type", true},
        {"profiles.asset_tags", true},
        {"apis.asset_api_route", true},
        {"index_mappings.table_name", true},
        {"index_mappings.render_page_no", false}, /* integer */
        {"profiles", false},                      /* list of objects */
        {"profiles.asset_metadata", false},       /* free-form */
        {"profiles.asset_metadata.name", false},  /* inside free-form */
        {"profiles.0.asset_type", false},         /* numeric part */
        {"asset_container_registry_creds_config", false},
        {"nope", false},
        {"", false},
        {"asset_id.x", false},
        {"profiles.", false},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(ad_schema_string_path(cases[i].path) == cases[i].want, "string path \"%s\"",
              cases[i].path);
}

int main(void)
{
    test_string_paths();
    test_documents();
    test_mutations();
    test_asset_id();
    test_patches();
    test_long_unknown_key();
    test_schema();
    test_camel();
    test_normalize_seed();
    test_normalize_nested();
    test_normalize_idempotent();
    test_normalize_oom();
    return check_summary("model");
}
