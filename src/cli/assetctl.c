/*
 * assetctl.c — the command-line client of assetd: its command line and main().
 *
 * Every command is one HTTP request to assetd (docs/API.md): a command
 * checks its arguments and builds the request (URL, JSON body, If-Match),
 * http.c sends it and unwraps the answer's envelope, and its `data` is
 * printed as JSON or, with -o table, as an aligned table (table.c). A failure
 * becomes one line on stderr and an exit status (enum exit_status).
 * Options are tables (option_defs, commands), not if-chains.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/assetctl.h"

#define DEFAULT_SERVER     "http://127.0.0.1:8080"
#define DEFAULT_TIMEOUT_MS 30000L
#define MAX_TIMEOUT_S      1e6 /* keeps milliseconds within a 32-bit long */
#define JSON_OUT_FLAGS     (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* ---------------------------------------------------------------- options */

enum opt_id {
    /* global options: accepted before or after any command */
    OPT_SERVER,
    OPT_TOKEN,
    OPT_OUTPUT,
    OPT_TIMEOUT,
    OPT_VERBOSE,
    OPT_CACERT,
    OPT_HELP,
    OPT_VERSION,
    /* command options: each command lists those it takes */
    OPT_FILE,
    OPT_IF_MATCH,
    OPT_TYPE,
    OPT_SUB_TYPE,
    OPT_TAG,
    OPT_API_ROUTE,
    OPT_LIMIT,
    OPT_SKIP,
    OPT_SORT,
    OPT_FIELDS,
    OPT_WAIT,
    OPT_PROGRESS,
    OPT_ROLE,
    OPT_FOR,
    OPT_COUNT
};

#define BIT(id)    (1u << (id))
#define LIST_OPTS  (BIT(OPT_LIMIT) | BIT(OPT_SKIP) | BIT(OPT_SORT) | BIT(OPT_FIELDS))
#define QUERY_OPTS (BIT(OPT_TYPE) | BIT(OPT_SUB_TYPE) | BIT(OPT_TAG) | BIT(OPT_API_ROUTE))

struct option_def {
    enum opt_id id;
    const char *name; /* long name, without "--" */
    char short_name;  /* 0: none */
    const char *arg;  /* name of its value in the help; NULL: a flag */
    const char *help;
};

static const struct option_def option_defs[] = {
    {OPT_SERVER, "server", 0, "URL",
     "assetd base URL (default: $ASSETCTL_SERVER, else " DEFAULT_SERVER ")"},
    {OPT_TOKEN, "token", 0, "TOKEN",
     "bearer token sent as Authorization (default: $ASSETCTL_TOKEN; see 'token create')"},
    {OPT_OUTPUT, "output", 'o', "json|table|yaml",
     "json (default; get assets|buckets: table): the answer's data, pretty-printed; table: "
     "aligned columns; yaml: the data as YAML"},
    {OPT_TIMEOUT, "timeout", 0, "DURATION",
     "give up on a request after DURATION (seconds, or with ms, s, m, h; default 30, 0: never); "
     "wait: how long to wait"},
    {OPT_VERBOSE, "verbose", 'v', NULL,
     "print the request line and the response's status line and headers to stderr"},
    {OPT_CACERT, "cacert", 0, "FILE",
     "trust the CA certificates in FILE (PEM) for an https:// server instead of the system's "
     "(default: $ASSETCTL_CACERT)"},
    {OPT_HELP, "help", 'h', NULL, "print this help and exit"},
    {OPT_VERSION, "version", 0, NULL, "print the version and exit"},
    {OPT_FILE, "file", 'f', "FILE",
     "create, update, search: the JSON body; apply, delete: the manifests, YAML or JSON "
     "('-': stdin)"},
    {OPT_IF_MATCH, "if-match", 0, "REV",
     "update, delete: only if the asset's revision is REV ('*': any)"},
    {OPT_TYPE, "type", 0, "TYPE", "query: assets with a profile of asset_type TYPE"},
    {OPT_SUB_TYPE, "sub-type", 0, "SUB_TYPE",
     "query: assets with a profile of asset_sub_type SUB_TYPE"},
    {OPT_TAG, "tag", 0, "TAG", "query: assets with a profile tagged TAG"},
    {OPT_API_ROUTE, "api-route", 0, "ROUTE",
     "query: assets with an API at ROUTE (e.g. api/v1/generate)"},
    {OPT_LIMIT, "limit", 0, "N", "list, query, search: at most N results"},
    {OPT_SKIP, "skip", 0, "N", "list, query, search: skip the first N results"},
    {OPT_SORT, "sort", 0, "FIELD[:desc]",
     "list, query, search: order by FIELD (dotted paths allowed)"},
    {OPT_FIELDS, "fields", 0, "A,B,...",
     "list, query, search: only these top-level fields (asset_id always)"},
    {OPT_WAIT, "wait", 0, NULL, "upload: follow the job until it ends (exit 1 if it failed)"},
    {OPT_PROGRESS, "progress", 0, NULL,
     "upload, download: progress bars even when stderr is not a terminal"},
    {OPT_ROLE, "role", 0, "reader|writer|admin", "token create: the new token's role"},
    {OPT_FOR, "for", 0, "PHASE",
     "wait: the phase to wait for: Ready (default), Failed or Pending (also condition=Ready)"},
};
#define N_OPTIONS (sizeof option_defs / sizeof option_defs[0])

/* The parsed command line. Strings point into argv. */
struct cli {
    const char *val[OPT_COUNT]; /* an option's value; "" for a flag that is set */
    const char *command;
    const char **args; /* positional arguments after the command */
    int nargs;
    struct client cl;
    bool table;
    enum output out; /* -o; OUT_DEFAULT when not given */
    long wait_ms;    /* wait: --timeout (default 30 s) */
};

/* ------------------------------------------------------------- commands */

/* What a command's answer holds, which decides how it is printed. */
enum shape { SHAPE_ASSET, SHAPE_LIST, SHAPE_DELETED };

struct command {
    const char *name;
    int (*build)(const struct cli *c, struct request *rq);
    enum shape shape;
    unsigned opts;          /* BIT()s of the command options it takes */
    int min_args, max_args; /* positional arguments */
    const char *synopsis;
    const char *summary;
    int (*run)(const struct cli *c); /* instead of build + one JSON exchange */
};

static int build_create(const struct cli *c, struct request *rq);
static int build_get(const struct cli *c, struct request *rq);
static int build_update(const struct cli *c, struct request *rq);
static int build_delete(const struct cli *c, struct request *rq);
static int run_get(const struct cli *c);
static int run_delete(const struct cli *c);
static int run_apply(const struct cli *c);
static int run_wait(const struct cli *c);
static int build_list(const struct cli *c, struct request *rq);
static int build_query(const struct cli *c, struct request *rq);
static int build_search(const struct cli *c, struct request *rq);
static int run_upload(const struct cli *c);
static int run_status(const struct cli *c);
static int run_download(const struct cli *c);
static int run_token(const struct cli *c);

static const struct command commands[] = {
    {"create", build_create, SHAPE_ASSET, BIT(OPT_FILE), 0, 0, "create -f FILE",
     "create an asset from a full Asset document (POST /assets)", NULL},
    {"get", NULL, SHAPE_ASSET, 0, 1, 2, "get (ID | assets|buckets [NAME])",
     "show one asset (GET /query/by-id/ID); get assets|buckets: the asset store's resources as "
     "a NAME PHASE REASON AGE table (-o json|yaml for the documents)",
     run_get},
    {"update", build_update, SHAPE_ASSET, BIT(OPT_FILE) | BIT(OPT_IF_MATCH), 1, 1,
     "update ID -f FILE [--if-match REV]",
     "change the top-level fields present in FILE (PUT /assets/ID)", NULL},
    {"delete", NULL, SHAPE_DELETED, BIT(OPT_IF_MATCH) | BIT(OPT_FILE), 0, 1,
     "delete (ID [--if-match REV] | -f FILE)",
     "delete an asset (DELETE /assets/ID), or every resource of a manifest file, assets first",
     run_delete},
    {"apply", NULL, SHAPE_ASSET, BIT(OPT_FILE), 0, 0, "apply -f FILE",
     "create or update the asset store resources of a manifest file (YAML or JSON; kinds "
     "Asset, ClusterAsset, Bucket, ClusterBucket), buckets first",
     run_apply},
    {"wait", NULL, SHAPE_ASSET, BIT(OPT_FOR), 2, 2,
     "wait asset|bucket NAME [--for=Ready] [--timeout=60s]",
     "wait until the resource's status has that phase (exit 1 on timeout, or if it Failed)",
     run_wait},
    {"list", build_list, SHAPE_LIST, LIST_OPTS, 0, 0, "list [LIST OPTIONS]",
     "list every asset (GET /assets)", NULL},
    {"query", build_query, SHAPE_LIST, LIST_OPTS | QUERY_OPTS, 0, 0,
     "query (--type T | --sub-type S | --tag T | --api-route R) [LIST OPTIONS]",
     "list the assets matching one criterion (GET /query/by-.../VALUE)", NULL},
    {"search", build_search, SHAPE_LIST, LIST_OPTS | BIT(OPT_FILE), 0, 1,
     "search (FILTER | -f FILE) [LIST OPTIONS]",
     "list the assets matching a MongoDB-style filter (POST /query/search)", NULL},
    {"upload", NULL, SHAPE_ASSET, BIT(OPT_WAIT) | BIT(OPT_PROGRESS), 1, 1,
     "upload FILE.zip [--wait] [--progress]",
     "upload a zip (POST /zip/upload); --wait follows the job to its end", run_upload},
    {"status", NULL, SHAPE_ASSET, 0, 1, 1, "status UPLOAD_ID",
     "show an upload job (GET /zip/status/UPLOAD_ID)", run_status},
    {"download", NULL, SHAPE_ASSET, BIT(OPT_PROGRESS), 1, 1,
     "download ID [-o FILE.zip] [--progress]",
     "save an asset as a zip (GET /zip/download/ID), resuming a partial download", run_download},
    {"token", NULL, SHAPE_ASSET, BIT(OPT_ROLE), 1, 2,
     "token (create NAME --role ROLE | list | revoke NAME)",
     "manage API tokens (admin): create prints the new token once (POST/GET/DELETE /tokens)",
     run_token},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* -------------------------------------------------------------- messages */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("assetctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'assetctl --help' for more information.\n", stderr);
    va_end(ap);
    return RC_USAGE;
}

static void print_help(void)
{
    printf("Usage: assetctl [OPTIONS] COMMAND [ARGS] [OPTIONS]\n\n"
           "The command-line client of assetd, the Assets Registry.\n\nCommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %s\n      %s\n", commands[i].synopsis, commands[i].summary);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &option_defs[i];
        if (o->id == OPT_SERVER) printf("\nGlobal options (before or after the command):\n");
        if (o->id == OPT_FILE) printf("\nCommand options:\n");
        char left[64];
        snprintf(left, sizeof left, "%c%c%c --%s%s%s", o->short_name ? '-' : ' ',
                 o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ', o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-30s %s\n", left, o->help);
    }
    printf("\nLIST OPTIONS are --limit, --skip, --sort and --fields.\n"
           "An ID or value that begins with '-' goes after '--'.\n\n"
           "Exit status: 0 success; 1 the server answered with an error, or an input file\n"
           "is unreadable or not JSON; 2 the server could not be reached; 64 bad usage.\n");
}

static void print_version(void)
{
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    printf("assetctl %s (libcurl %s, jansson %s)\n", ASSETCTL_VERSION, v->version,
           jansson_version_str());
}

/* ------------------------------------------------------ argument parsing */

static const struct option_def *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(option_defs[i].name) == len && !strncmp(option_defs[i].name, name, len))
            return &option_defs[i];
    return NULL;
}

static const struct option_def *find_short(char ch)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (option_defs[i].short_name == ch) return &option_defs[i];
    return NULL;
}

/* Parses the option at argv[*i] ("--name[=value]", "--name value", "-x",
 * "-x value", "-xvalue") into c->val, advancing *i past a separate value. */
static int parse_option(struct cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *inline_val = NULL;
    const struct option_def *o;
    if (a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        o = find_long(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (eq) inline_val = eq + 1;
    } else {
        o = find_short(a[1]);
        if (o && a[2]) inline_val = a + 2;
    }
    if (!o) return usage_error("unknown option '%s'", a);
    if (!o->arg) {
        if (inline_val) return usage_error("option --%s takes no value", o->name);
        c->val[o->id] = "";
        return RC_OK;
    }
    if (!inline_val) {
        if (*i + 1 >= argc) return usage_error("option --%s needs a value (%s)", o->name, o->arg);
        inline_val = argv[++*i];
    }
    c->val[o->id] = inline_val;
    return RC_OK;
}

/* Splits argv into options (anywhere, until "--"), the command and its
 * positional arguments. */
static int parse_args(struct cli *c, int argc, char **argv)
{
    c->args = calloc((size_t)argc, sizeof *c->args);
    if (!c->args) return oom();
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && !strcmp(a, "--")) {
            options_done = true;
        } else if (!options_done && a[0] == '-' && a[1]) {
            int rc = parse_option(c, argc, argv, &i);
            if (rc) return rc;
        } else if (!c->command) {
            c->command = a;
        } else {
            c->args[c->nargs++] = a;
        }
    }
    return RC_OK;
}

/* ------------------------------------------------------- argument checks */

static bool is_count(const char *s)
{
    return s[0] && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

/* --timeout: seconds, or a duration with a unit (500ms, 60s, 2m, 1h). For
 * wait it is how long to wait; requests keep the 30 s default. */
static int check_timeout(struct cli *c)
{
    static const struct {
        const char *unit;
        double seconds;
    } units[] = {{"", 1}, {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
    const char *v = c->val[OPT_TIMEOUT];
    bool wait = c->command && !strcmp(c->command, "wait");
    c->cl.timeout_ms = DEFAULT_TIMEOUT_MS;
    c->wait_ms = DEFAULT_TIMEOUT_MS;
    if (!v) return RC_OK;
    char *end;
    errno = 0;
    double s = strtod(v, &end);
    size_t u = 0;
    while (u < sizeof units / sizeof units[0] && strcmp(end, units[u].unit)) u++;
    if (end == v || u == sizeof units / sizeof units[0] || errno || !(s >= 0) ||
        !(s * units[u].seconds <= MAX_TIMEOUT_S))
        return usage_error("--timeout: '%s' is not a duration (seconds, or with ms, s, m or h; "
                           "0 to %.0f s)",
                           v, MAX_TIMEOUT_S);
    s *= units[u].seconds;
    long ms = (long)(s * 1000 + 0.5);
    if (s > 0 && ms == 0) ms = 1;
    if (wait)
        c->wait_ms = ms;
    else
        c->cl.timeout_ms = ms;
    return RC_OK;
}

/* Checks that url parses (as curl will read it) and is http or https, so a
 * typo is a usage error rather than a failed connection. */
static int check_server_url(const char *url)
{
    char *scheme = NULL;
    CURLU *u = curl_url();
    if (!u) return oom();
    CURLUcode uc = has_control(url) ? CURLUE_MALFORMED_INPUT
                                    : curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME);
    if (!uc) uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    bool http = scheme && (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
    curl_free(scheme);
    curl_url_cleanup(u);
    if (uc) return usage_error("--server: '%s' is not a URL (%s)", url, curl_url_strerror(uc));
    if (!http) return usage_error("--server: '%s' is not an http:// or https:// URL", url);
    return RC_OK;
}

/* Resolves --cacert / $ASSETCTL_CACERT and checks that the file can be
 * read, so a typo is named rather than reported as a TLS failure. */
static int check_cacert(struct cli *c)
{
    const char *env = getenv("ASSETCTL_CACERT");
    c->cl.cacert = c->val[OPT_CACERT] ? c->val[OPT_CACERT] : env && *env ? env : NULL;
    if (!c->cl.cacert) return RC_OK;
    if (!*c->cl.cacert) return usage_error("--cacert: the value must not be empty");
    FILE *f = fopen(c->cl.cacert, "rb");
    if (!f) {
        fprintf(stderr, "assetctl: cannot read the CA file %s: %s\n", c->cl.cacert,
                strerror(errno));
        return RC_FAIL;
    }
    fclose(f);
    return RC_OK;
}

/* Checks and resolves the global options. */
static int check_globals(struct cli *c)
{
    const char *out = c->val[OPT_OUTPUT], *env = getenv("ASSETCTL_SERVER");
    /* download's -o names the file to write */
    bool to_file = c->command && !strcmp(c->command, "download");
    if (!to_file && out && strcmp(out, "json") && strcmp(out, "table") && strcmp(out, "yaml"))
        return usage_error("-o: unknown output format '%s' (json, table or yaml)", out);
    c->table = !to_file && out && !strcmp(out, "table");
    c->out = to_file || !out        ? OUT_DEFAULT
             : c->table             ? OUT_TABLE
             : !strcmp(out, "yaml") ? OUT_YAML
                                    : OUT_JSON;
    c->cl.verbose = c->val[OPT_VERBOSE] != NULL;
    c->cl.server = c->val[OPT_SERVER] ? c->val[OPT_SERVER] : env && *env ? env : DEFAULT_SERVER;
    const char *tok = c->val[OPT_TOKEN] ? c->val[OPT_TOKEN] : getenv("ASSETCTL_TOKEN");
    c->cl.token = tok && *tok ? tok : NULL;
    int rc = check_server_url(c->cl.server);
    if (!rc) rc = check_cacert(c);
    return rc ? rc : check_timeout(c);
}

/* Checks the command options' values, whichever command takes them. */
static int check_values(const struct cli *c)
{
    for (enum opt_id id = OPT_FILE; id < OPT_COUNT; id++) {
        const char *v = c->val[id], *name = option_defs[id].name;
        if (!v || !option_defs[id].arg) continue; /* absent, or a flag */
        if ((id == OPT_LIMIT || id == OPT_SKIP) && !is_count(v))
            return usage_error("--%s: '%s' is not a non-negative integer", name, v);
        if (!*v) return usage_error("--%s: the value must not be empty", name);
        if (id == OPT_IF_MATCH && has_control(v))
            return usage_error("--if-match: '%s' is not a revision", v);
    }
    return RC_OK;
}

/* Checks that the command takes the options and arguments given. */
static int check_command(const struct cli *c, const struct command *cmd)
{
    for (enum opt_id id = OPT_FILE; id < OPT_COUNT; id++)
        if (c->val[id] && !(cmd->opts & BIT(id)))
            return usage_error("option --%s does not apply to '%s'", option_defs[id].name,
                               cmd->name);
    if (c->nargs < cmd->min_args || c->nargs > cmd->max_args)
        return usage_error("usage: assetctl %s", cmd->synopsis);
    for (int i = 0; i < c->nargs; i++)
        if (!*c->args[i]) return usage_error("%s: an empty argument is not allowed", cmd->name);
    return check_values(c);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

/* ------------------------------------------------------------ JSON input */

/* Reads all of f into b. */
static int read_stream(FILE *f, const char *name, struct buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n > MAX_BODY - b->len) {
            fprintf(stderr, "assetctl: %s: larger than 1 GiB\n", name);
            return RC_FAIL;
        }
        if (!buf_add(b, chunk, n)) return oom();
    }
    if (ferror(f)) {
        fprintf(stderr, "assetctl: cannot read %s: %s\n", name, strerror(errno));
        return RC_FAIL;
    }
    return RC_OK;
}

/* Checks that text (named name in messages) is one JSON object, so that a
 * typo is caught here rather than by the server. */
static int check_json_object(const char *text, size_t len, const char *name)
{
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!doc) {
        fprintf(stderr, "assetctl: %s: invalid JSON at line %d column %d: %s\n", name, err.line,
                err.column, err.text);
        return RC_FAIL;
    }
    bool is_object = json_is_object(doc);
    json_decref(doc);
    if (!is_object) {
        fprintf(stderr, "assetctl: %s: expected a JSON object\n", name);
        return RC_FAIL;
    }
    return RC_OK;
}

int read_input(const char *path, struct buf *b)
{
    bool is_stdin = !strcmp(path, "-");
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "assetctl: cannot open %s: %s\n", name, strerror(errno));
        return RC_FAIL;
    }
    int rc = read_stream(f, name, b);
    if (!is_stdin) fclose(f);
    return rc;
}

/* Reads the JSON object in path ("-": stdin) into body. */
static int read_json_file(const char *path, struct buf *body)
{
    int rc = read_input(path, body);
    return rc ? rc
              : check_json_object(body->data ? body->data : "", body->len,
                                  strcmp(path, "-") ? path : "<stdin>");
}

/* ---------------------------------------------------------------- output */

static int print_json(const json_t *data)
{
    if (json_dumpf(data, stdout, JSON_OUT_FLAGS) != 0) return oom();
    putchar('\n');
    return RC_OK;
}

static int print_data(const struct cli *c, const json_t *data, enum shape shape)
{
    if (c->out == OUT_YAML) return print_yaml(data);
    if (!c->table) return print_json(data);
    if (shape == SHAPE_DELETED) {
        const char *id = json_string_value(json_object_get(data, "asset_id"));
        printf("deleted %s\n", id ? id : c->args[0]);
        return RC_OK;
    }
    if (json_is_object(data) || json_is_array(data)) return print_table(data);
    return print_json(data);
}

/* Sends rq, then prints the answer's data. */
static int exchange(const struct cli *c, const struct request *rq, enum shape shape)
{
    json_t *data = NULL;
    int rc = http_exchange(&c->cl, rq, &data);
    if (!rc) rc = print_data(c, data, shape);
    json_decref(data);
    return rc;
}

/* ------------------------------------------------------ request builders */

/* Starts rq->url with the server's base URL and path, then the encoded
 * segment seg (NULL: none). */
static int url_start(const struct cli *c, struct request *rq, const char *path, const char *seg)
{
    size_t n = strlen(c->cl.server);
    while (n > 0 && c->cl.server[n - 1] == '/') n--;
    if (!buf_add(&rq->url, c->cl.server, n) || !buf_str(&rq->url, path) ||
        (seg && !buf_segment(&rq->url, seg, strlen(seg))))
        return oom();
    return RC_OK;
}

/* Appends ?limit=&skip=&sort=&fields= for those given. */
static int url_list_params(const struct cli *c, struct request *rq)
{
    static const enum opt_id params[] = {OPT_LIMIT, OPT_SKIP, OPT_SORT, OPT_FIELDS};
    char sep = '?';
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        const char *v = c->val[params[i]];
        if (!v) continue;
        if (!buf_char(&rq->url, sep) || !buf_str(&rq->url, option_defs[params[i]].name) ||
            !buf_char(&rq->url, '=') || !buf_escape(&rq->url, v, strlen(v), ":,"))
            return oom();
        sep = '&';
    }
    return RC_OK;
}

static int build_create(const struct cli *c, struct request *rq)
{
    if (!c->val[OPT_FILE]) return usage_error("create needs -f FILE");
    rq->method = "POST";
    int rc = read_json_file(c->val[OPT_FILE], &rq->body);
    return rc ? rc : url_start(c, rq, "/assets", NULL);
}

static int build_get(const struct cli *c, struct request *rq)
{
    rq->method = "GET";
    return url_start(c, rq, "/query/by-id/", c->args[0]);
}

static int build_update(const struct cli *c, struct request *rq)
{
    if (!c->val[OPT_FILE]) return usage_error("update needs -f FILE");
    rq->method = "PUT";
    rq->if_match = c->val[OPT_IF_MATCH];
    int rc = read_json_file(c->val[OPT_FILE], &rq->body);
    return rc ? rc : url_start(c, rq, "/assets/", c->args[0]);
}

static int build_delete(const struct cli *c, struct request *rq)
{
    rq->method = "DELETE";
    rq->if_match = c->val[OPT_IF_MATCH];
    return url_start(c, rq, "/assets/", c->args[0]);
}

static int build_list(const struct cli *c, struct request *rq)
{
    rq->method = "GET";
    int rc = url_start(c, rq, "/assets", NULL);
    return rc ? rc : url_list_params(c, rq);
}

static int build_query(const struct cli *c, struct request *rq)
{
    static const struct {
        enum opt_id id;
        const char *path;
    } kinds[] = {{OPT_TYPE, "/query/by-type/"},
                 {OPT_SUB_TYPE, "/query/by-sub-type/"},
                 {OPT_TAG, "/query/by-tag/"},
                 {OPT_API_ROUTE, "/query/by-api-route/"}};
    size_t found = 0, k = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (c->val[kinds[i].id]) found++, k = i;
    if (found != 1)
        return usage_error("query needs exactly one of --type, --sub-type, --tag, --api-route");
    const char *v = c->val[kinds[k].id];
    rq->method = "GET";
    bool route = kinds[k].id == OPT_API_ROUTE;
    int rc = url_start(c, rq, kinds[k].path, route ? NULL : v);
    if (!rc && route && !buf_path(&rq->url, v)) rc = oom();
    return rc ? rc : url_list_params(c, rq);
}

static int build_search(const struct cli *c, struct request *rq)
{
    if (!c->val[OPT_FILE] == !c->nargs)
        return usage_error("search needs a FILTER or -f FILE (not both)");
    rq->method = "POST";
    int rc;
    if (c->nargs) {
        rc = buf_str(&rq->body, c->args[0])
                 ? check_json_object(rq->body.data, rq->body.len, "FILTER")
                 : oom();
    } else {
        rc = read_json_file(c->val[OPT_FILE], &rq->body);
    }
    if (!rc) rc = url_start(c, rq, "/query/search", NULL);
    return rc ? rc : url_list_params(c, rq);
}

/* Builds one request with build, sends it and prints the answer. */
static int run_built(const struct cli *c, int (*build)(const struct cli *, struct request *),
                     enum shape shape)
{
    struct request rq = {0};
    int rc = build(c, &rq);
    if (!rc) rc = exchange(c, &rq, shape);
    buf_free(&rq.url);
    buf_free(&rq.body);
    return rc;
}

static bool is_store_kind(const char *s)
{
    return !strcmp(s, "asset") || !strcmp(s, "assets") || !strcmp(s, "bucket") ||
           !strcmp(s, "buckets");
}

/* get ID | get assets|buckets [NAME] */
static int run_get(const struct cli *c)
{
    if (!is_store_kind(c->args[0])) {
        if (c->nargs != 1) return usage_error("usage: assetctl get (ID | assets|buckets [NAME])");
        return run_built(c, build_get, SHAPE_ASSET);
    }
    return cmd_get_resources(&c->cl, c->args[0], c->nargs > 1 ? c->args[1] : NULL,
                             c->out == OUT_DEFAULT ? OUT_TABLE : c->out);
}

/* delete ID | delete -f FILE */
static int run_delete(const struct cli *c)
{
    if (!c->val[OPT_FILE]) {
        if (c->nargs != 1) return usage_error("usage: assetctl delete (ID | -f FILE)");
        return run_built(c, build_delete, SHAPE_DELETED);
    }
    if (c->nargs || c->val[OPT_IF_MATCH])
        return usage_error("delete -f FILE takes no ID and no --if-match");
    return cmd_delete_file(&c->cl, c->val[OPT_FILE]);
}

static int run_apply(const struct cli *c)
{
    if (!c->val[OPT_FILE]) return usage_error("apply needs -f FILE");
    return cmd_apply(&c->cl, c->val[OPT_FILE]);
}

/* wait asset|bucket NAME [--for=PHASE] */
static int run_wait(const struct cli *c)
{
    const char *kind = c->args[0], *cond = c->val[OPT_FOR] ? c->val[OPT_FOR] : "Ready";
    const char *eq = strchr(cond, '='), *phase = eq ? eq + 1 : cond;
    if (!is_store_kind(kind)) return usage_error("wait: unknown kind '%s' (asset or bucket)", kind);
    if ((strcasecmp(phase, "Ready") && strcasecmp(phase, "Failed") &&
         strcasecmp(phase, "Pending")) ||
        (eq && strncmp(cond, "condition=", 10) && strncmp(cond, "phase=", 6)))
        return usage_error("--for: '%s' is not a phase (Ready, Failed or Pending)", cond);
    return cmd_wait(&c->cl, kind, c->args[1], cond, c->wait_ms);
}

static int run_upload(const struct cli *c)
{
    struct xfer_opts o = {c->val[OPT_WAIT] != NULL, c->val[OPT_PROGRESS] != NULL};
    return cmd_upload(&c->cl, &o, c->args[0]);
}

static int run_status(const struct cli *c)
{
    return cmd_status(&c->cl, c->args[0]);
}

static int run_download(const struct cli *c)
{
    struct xfer_opts o = {false, c->val[OPT_PROGRESS] != NULL};
    return cmd_download(&c->cl, &o, c->args[0], c->val[OPT_OUTPUT]);
}

/* token create NAME --role ROLE | token list | token revoke NAME */
static int run_token(const struct cli *c)
{
    const char *verb = c->args[0];
    struct request rq = {0};
    json_t *data = NULL;
    int rc;
    bool create = !strcmp(verb, "create"), list = !strcmp(verb, "list"),
         revoke = !strcmp(verb, "revoke");
    if (!create && !list && !revoke)
        return usage_error("token: unknown action '%s' (create, list or revoke)", verb);
    if ((list && c->nargs != 1) || (!list && c->nargs != 2))
        return usage_error("usage: assetctl token (create NAME --role ROLE | list | revoke NAME)");
    if (create != (c->val[OPT_ROLE] != NULL))
        return usage_error(create ? "token create needs --role reader|writer|admin"
                                  : "--role applies to token create only");
    if (create) {
        json_t *body = json_pack("{s:s, s:s}", "name", c->args[1], "role", c->val[OPT_ROLE]);
        char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(body);
        if (!text || !buf_str(&rq.body, text)) {
            free(text);
            return oom();
        }
        free(text);
        rq.method = "POST";
        rc = url_start(c, &rq, "/tokens", NULL);
    } else {
        rq.method = list ? "GET" : "DELETE";
        rc = url_start(c, &rq, list ? "/tokens" : "/tokens/", list ? NULL : c->args[1]);
    }
    if (!rc) rc = http_exchange(&c->cl, &rq, &data);
    buf_free(&rq.url);
    buf_free(&rq.body);
    if (rc) return rc;
    if (c->table && list) {
        size_t i;
        json_t *t;
        printf("%-32s %-7s %s\n", "NAME", "ROLE", "CREATED");
        json_array_foreach(data, i, t)
        {
            printf("%-32s %-7s %lld\n", json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "role")),
                   (long long)json_integer_value(json_object_get(t, "created")));
        }
    } else if (c->table && create) {
        printf("%s\n", json_string_value(json_object_get(data, "token")));
    } else if (c->out == OUT_YAML) {
        rc = print_yaml(data);
    } else {
        rc =
            json_dumpf(data, stdout, JSON_OUT_FLAGS) == 0 && putchar('\n') != EOF ? RC_OK : RC_FAIL;
    }
    if (create) fprintf(stderr, "assetctl: the token is shown only this once; keep it safe\n");
    json_decref(data);
    return rc;
}

/* ------------------------------------------------------------------ main */

/* Parses and checks the command line, then builds and sends the request. */
static int run(struct cli *c, int argc, char **argv)
{
    int rc = parse_args(c, argc, argv);
    if (rc) return rc;
    if (c->val[OPT_HELP]) {
        print_help();
        return RC_OK;
    }
    if (c->val[OPT_VERSION]) {
        print_version();
        return RC_OK;
    }
    if (!c->command) return usage_error("no command given");
    const struct command *cmd = find_command(c->command);
    if (!cmd) return usage_error("unknown command '%s'", c->command);
    if ((rc = check_globals(c)) || (rc = check_command(c, cmd))) return rc;

    if (cmd->run) return cmd->run(c);
    struct request rq = {0};
    rc = cmd->build(c, &rq);
    if (!rc) rc = exchange(c, &rq, cmd->shape);
    buf_free(&rq.url);
    buf_free(&rq.body);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("assetctl: cannot initialize libcurl\n", stderr);
        return RC_FAIL;
    }
    int rc = run(&c, argc, argv);
    free(c.args);
    curl_global_cleanup();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "assetctl: cannot write the output: %s\n", strerror(errno));
        return rc ? rc : RC_FAIL;
    }
    return rc;
}
