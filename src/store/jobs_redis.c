/*
 * jobs_redis.c — the job store in Redis (hiredis), so that any number of
 * assetd instances share one queue and one view of every upload's status.
 *
 *   redis://[[user]:password@]host[:port][/db][?param=value&…]
 *
 * Parameters: prefix (prepended to every key, default none),
 * visibility_timeout (seconds, default 60), connect_timeout and timeout
 * (milliseconds, defaults 2000 and 5000), pool (connections, default 32).
 * docs/backends/redis.md has the key layout and the lease rules; in short:
 *
 *   UPLOAD_STATUS:<id>      the seed's key: "queued", "processing",
 *                           "success" or "failed: <reason>"
 *   assetd:job:<id>         hash: every field of ad_job, plus seq
 *   assetd:keys:<id>        set: blob keys the job recorded
 *   assetd:queue            list: queued ids, oldest at the head
 *   assetd:processing       list: claimed ids (the BLMOVE target)
 *   assetd:leases           sorted set: claimed id → lease end (ms, server clock)
 *   assetd:done:<state>     sorted sets: ended ids by end time (for expire())
 *   assetd:seq              counter: arrival order
 *
 * Every change of state is one Lua script, so the status string, the hash,
 * the lists and the leases never disagree, whatever instance dies where.
 * The one step that is not a script is BLMOVE (a script cannot block): a
 * claimer moves an id from the queue to the processing list, then a script
 * starts it. A claimer that dies between the two leaves an id with no lease;
 * the next claim gives it one, so it is handed out again once it runs out.
 * Times come from Redis's TIME, never from the instances' clocks. The
 * scripts build key names from the prefix, so the store needs one Redis
 * node (no Redis Cluster).
 *
 * hiredis contexts are not thread-safe: each call borrows one from a pool
 * (at most `pool`, made on demand) and gives it back. A context whose
 * connection failed is dropped, and an idle one is checked with poll()
 * before it is reused, so calls fail with AD_E_UNAVAILABLE while Redis is
 * down and work again, on the same handle, once it is back. hiredis writes
 * with write(): the process must ignore SIGPIPE (assetd's main does).
 *
 * Replies are server bytes: every one is checked for its type and size
 * before use.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/jobs.h"
#include "util/str.h"

#define REDIS_PORT_DEFAULT 6379
#define REDIS_HOST_MAX     255
#define REDIS_PREFIX_MAX   128
#define LEASE_DEFAULT_S    60
#define CONNECT_MS_DEFAULT 2000
#define COMMAND_MS_DEFAULT 5000
#define POOL_DEFAULT       32
#define POOL_MAX           1024
#define POOL_WAIT_MS       10000  /* longest wait for a free connection */
#define SCAN_BATCH         "500"  /* SSCAN COUNT of keys() */
#define FIELD_MAX          8192   /* bytes of a job's asset_id or source read back */
#define UNSTARTED_SCAN     "1000" /* processing entries looked at for a missing lease */

extern const ad_jobs_ops ad_jobs_redis_ops;

/* --- Lua --- */

/* Every script starts with this: ARGV[1] is the key prefix. */
#define LUA_PROLOGUE                                                                               \
    "local P = ARGV[1]\n"                                                                          \
    "local function job(id) return P .. 'assetd:job:' .. id end\n"                                 \
    "local function status(id) return P .. 'UPLOAD_STATUS:' .. id end\n"                           \
    "local function keyset(id) return P .. 'assetd:keys:' .. id end\n"                             \
    "local QUEUE, PROC = P .. 'assetd:queue', P .. 'assetd:processing'\n"                          \
    "local LEASES = P .. 'assetd:leases'\n"                                                        \
    "local function now_ms()\n"                                                                    \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"

enum { S_CREATE, S_RECLAIM, S_START, S_PROGRESS, S_FINISH, S_LIST, S_EXPIRE, S_COUNT };

static const char *const script_src[S_COUNT] = {
    /* create: ARGV id, source ('' = none), bytes_total, bucket ('' = none)
     * → 1, or 0 if taken */
    [S_CREATE] = LUA_PROLOGUE
    "local id = ARGV[2]\n"
    "local h = job(id)\n"
    "if redis.call('EXISTS', h) == 1 then return 0 end\n"
    "local t = math.floor(now_ms() / 1000)\n"
    "local seq = redis.call('INCR', P .. 'assetd:seq')\n"
    "redis.call('DEL', keyset(id))\n"
    "redis.call('HSET', h, 'id', id, 'state', 'queued', 'bytes_total', ARGV[4],\n"
    "  'bytes_done', 0, 'files_total', 0, 'files_done', 0, 'created', t, 'updated', t,\n"
    "  'seq', seq, 'attempt', 0)\n"
    "if ARGV[3] ~= '' then redis.call('HSET', h, 'source', ARGV[3]) end\n"
    "if ARGV[5] ~= '' then redis.call('HSET', h, 'bucket', ARGV[5]) end\n"
    "redis.call('SET', status(id), 'queued')\n"
    "redis.call('RPUSH', QUEUE, id)\n"
    "return 1\n",

    /* reclaim: ARGV lease_ms → {recovered 0|1, fields} of a job whose lease
     * ran out, now under a new lease; or nil */
    [S_RECLAIM] = LUA_PROLOGUE
    "local lease = tonumber(ARGV[2])\n"
    "local now = now_ms()\n"
    "if redis.call('LLEN', PROC) > redis.call('ZCARD', LEASES) then\n"
    "  -- claimed between BLMOVE and start: a lease, so a claimer that died\n"
    "  -- there is replaced once it runs out\n"
    "  for _, id in ipairs(redis.call('LRANGE', PROC, 0, " UNSTARTED_SCAN " - 1)) do\n"
    "    if not redis.call('ZSCORE', LEASES, id) then\n"
    "      redis.call('ZADD', LEASES, now + lease, id)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _ = 1, 16 do\n"
    "  local e = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, 1)\n"
    "  if #e == 0 then return false end\n"
    "  local id = e[1]\n"
    "  local h = job(id)\n"
    "  local state = redis.call('HGET', h, 'state')\n"
    "  if state == 'processing' or state == 'queued' then\n"
    "    redis.call('ZADD', LEASES, now + lease, id)\n"
    "    redis.call('HINCRBY', h, 'attempt', 1)\n"
    "    redis.call('HSET', h, 'state', 'processing', 'updated', math.floor(now / 1000))\n"
    "    redis.call('SET', status(id), 'processing')\n"
    "    return {state == 'processing' and 1 or 0, redis.call('HGETALL', h)}\n"
    "  end\n"
    "  -- gone or ended: a stale entry\n"
    "  redis.call('ZREM', LEASES, id)\n"
    "  redis.call('LREM', PROC, 0, id)\n"
    "end\n"
    "return false\n",

    /* start: ARGV id (just moved to PROC), lease_ms → fields, or nil */
    [S_START] = LUA_PROLOGUE
    "local id = ARGV[2]\n"
    "local h = job(id)\n"
    "local state = redis.call('HGET', h, 'state')\n"
    "if state == 'processing' then return false end -- taken over meanwhile\n"
    "if state ~= 'queued' then\n"
    "  redis.call('LREM', PROC, 0, id)\n"
    "  redis.call('ZREM', LEASES, id)\n"
    "  return false\n"
    "end\n"
    "local now = now_ms()\n"
    "redis.call('ZADD', LEASES, now + tonumber(ARGV[3]), id)\n"
    "redis.call('HINCRBY', h, 'attempt', 1)\n"
    "redis.call('HSET', h, 'state', 'processing', 'updated', math.floor(now / 1000))\n"
    "redis.call('SET', status(id), 'processing')\n"
    "return redis.call('HGETALL', h)\n",

    /* progress: ARGV id, bytes_total, bytes_done, files_total, files_done,
     * asset_id ('' = keep), attempt (0 = any), lease_ms → {1|0 found|2 lost,
     * current attempt} */
    [S_PROGRESS] = LUA_PROLOGUE
    "local id = ARGV[2]\n"
    "local h = job(id)\n"
    "if redis.call('EXISTS', h) == 0 then return {0, 0} end\n"
    "local cur = tonumber(redis.call('HGET', h, 'attempt') or '0')\n"
    "local a = tonumber(ARGV[8])\n"
    "if a ~= 0 and a ~= cur then return {2, cur} end\n"
    "local now = now_ms()\n"
    "redis.call('HSET', h, 'bytes_total', ARGV[3], 'bytes_done', ARGV[4], 'files_total',\n"
    "  ARGV[5], 'files_done', ARGV[6], 'updated', math.floor(now / 1000))\n"
    "if ARGV[7] ~= '' then redis.call('HSET', h, 'asset_id', ARGV[7]) end\n"
    "if redis.call('HGET', h, 'state') == 'processing' then\n"
    "  redis.call('ZADD', LEASES, 'XX', now + tonumber(ARGV[9]), id)\n"
    "end\n"
    "return {1, cur}\n",

    /* finish: ARGV id, state (queued|success|failed), reason, ttl → 1, or 0
     * if unknown */
    [S_FINISH] = LUA_PROLOGUE
    "local id, state, reason = ARGV[2], ARGV[3], ARGV[4]\n"
    "local h = job(id)\n"
    "if redis.call('EXISTS', h) == 0 then return 0 end\n"
    "redis.call('LREM', PROC, 0, id)\n"
    "redis.call('ZREM', LEASES, id)\n"
    "redis.call('LREM', QUEUE, 0, id)\n"
    "redis.call('ZREM', P .. 'assetd:done:success', id)\n"
    "redis.call('ZREM', P .. 'assetd:done:failed', id)\n"
    "local t = math.floor(now_ms() / 1000)\n"
    "redis.call('HSET', h, 'state', state, 'reason', reason, 'updated', t)\n"
    "if state == 'queued' then\n"
    "  redis.call('SET', status(id), 'queued')\n"
    "  redis.call('PERSIST', h)\n"
    "  redis.call('PERSIST', keyset(id))\n"
    "  -- back in front, in arrival order: before the first later arrival\n"
    "  local seq = tonumber(redis.call('HGET', h, 'seq') or '0')\n"
    "  local i = 0\n"
    "  while true do\n"
    "    local batch = redis.call('LRANGE', QUEUE, i, i + 99)\n"
    "    if #batch == 0 then break end\n"
    "    for _, other in ipairs(batch) do\n"
    "      if tonumber(redis.call('HGET', job(other), 'seq') or '0') > seq then\n"
    "        redis.call('LINSERT', QUEUE, 'BEFORE', other, id)\n"
    "        return 1\n"
    "      end\n"
    "    end\n"
    "    i = i + 100\n"
    "  end\n"
    "  redis.call('RPUSH', QUEUE, id)\n"
    "  return 1\n"
    "end\n"
    "redis.call('SET', status(id), state == 'failed' and ('failed: ' .. reason) or state)\n"
    "redis.call('ZADD', P .. 'assetd:done:' .. state, t, id)\n"
    "local ttl = tonumber(ARGV[5])\n"
    "if ttl > 0 then\n"
    "  redis.call('EXPIRE', h, ttl)\n"
    "  redis.call('EXPIRE', status(id), ttl)\n"
    "  redis.call('EXPIRE', keyset(id), ttl)\n"
    "end\n"
    "return 1\n",

    /* list: ARGV state, max → ids in that state, in list or end-time order */
    [S_LIST] = LUA_PROLOGUE
    "local state, max = ARGV[2], tonumber(ARGV[3])\n"
    "local src, zset = QUEUE, false\n"
    "if state == 'processing' then src = PROC\n"
    "elseif state ~= 'queued' then src, zset = P .. 'assetd:done:' .. state, true end\n"
    "local out, i = {}, 0\n"
    "while #out < max do\n"
    "  local batch\n"
    "  if zset then batch = redis.call('ZRANGE', src, i, i + 199)\n"
    "  else batch = redis.call('LRANGE', src, i, i + 199) end\n"
    "  if #batch == 0 then break end\n"
    "  for _, id in ipairs(batch) do\n"
    "    if #out < max and redis.call('HGET', job(id), 'state') == state then\n"
    "      out[#out + 1] = id\n"
    "    end\n"
    "  end\n"
    "  i = i + 200\n"
    "end\n"
    "return out\n",

    /* expire: ARGV before (seconds) → {removed, more 0|1} */
    [S_EXPIRE] = LUA_PROLOGUE
    "local n, more = 0, 0\n"
    "for _, s in ipairs({'success', 'failed'}) do\n"
    "  local z = P .. 'assetd:done:' .. s\n"
    "  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. ARGV[2], 'LIMIT', 0, 500)\n"
    "  for _, id in ipairs(ids) do\n"
    "    if redis.call('HGET', job(id), 'state') == s then\n"
    "      redis.call('DEL', job(id), status(id), keyset(id))\n"
    "      n = n + 1\n"
    "    end\n"
    "    redis.call('ZREM', z, id)\n"
    "  end\n"
    "  if #ids == 500 then more = 1 end\n"
    "end\n"
    "return {n, more}\n",
};

/* --- the handle --- */

typedef struct redis_jobs {
    ad_jobs base;
    char host[REDIS_HOST_MAX + 1];
    int port;
    unsigned db;
    char *user, *password; /* owned; NULL when not given */
    char prefix[REDIS_PREFIX_MAX + 1];
    int64_t lease_ms;
    unsigned connect_ms, command_ms, pool_max;
    char where[REDIS_HOST_MAX + 32]; /* "redis HOST:PORT/DB" for messages */
    char sha[S_COUNT][41];           /* SHA-1 of each script, for EVALSHA */

    pthread_mutex_t mu;
    pthread_cond_t cv;     /* signalled when a connection is given back */
    redisContext **idle;   /* pool_max slots */
    unsigned nidle, nconn; /* idle ones; all, idle and borrowed */
} redis_jobs;

static redis_jobs *R(ad_jobs *j)
{
    return (redis_jobs *)j;
}

static struct timeval ms_tv(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    return tv;
}

/* --- URL --- */

static ad_code bad_url(ad_error *err, const char *what)
{
    return ad_fail(err, AD_E_BAD_REQUEST,
                   "job store URL (redis:): %s; the form is "
                   "redis://[[user]:password@]host[:port][/db][?prefix=…&visibility_timeout=…]",
                   what);
}

static ad_code set_ms(const char *name, const char *value, uint64_t max, unsigned *out,
                      ad_error *err)
{
    uint64_t v = 0;
    if (!ad_parse_u64(value, max, &v) || v < 1)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "job store URL (redis:): %s must be a whole number from 1 to %llu, not "
                       "\"%.40s\"",
                       name, (unsigned long long)max, value);
    *out = (unsigned)v;
    return AD_OK;
}

static ad_code set_param(void *ctx, const char *name, const char *value, ad_error *err)
{
    redis_jobs *r = ctx;
    int64_t s = 0;
    size_t i, n = strlen(value);
    if (strcmp(name, "prefix") == 0) {
        if (n > REDIS_PREFIX_MAX) return bad_url(err, "prefix is over 128 bytes");
        for (i = 0; i < n; i++)
            if (value[i] <= ' ' || value[i] > '~')
                return bad_url(err, "prefix must be printable ASCII without spaces");
        memcpy(r->prefix, value, n + 1);
        return AD_OK;
    }
    if (strcmp(name, "visibility_timeout") == 0) {
        if (ad_jobs_parse_timeout(value, &s, err)) return err ? err->code : AD_E_BAD_REQUEST;
        r->lease_ms = s * 1000;
        return AD_OK;
    }
    if (strcmp(name, "connect_timeout") == 0)
        return set_ms(name, value, 60000, &r->connect_ms, err);
    if (strcmp(name, "timeout") == 0) return set_ms(name, value, 600000, &r->command_ms, err);
    if (strcmp(name, "pool") == 0) return set_ms(name, value, POOL_MAX, &r->pool_max, err);
    return ad_fail(err, AD_E_BAD_REQUEST,
                   "job store URL (redis:): unknown parameter \"%.64s\" (known: prefix, "
                   "visibility_timeout, connect_timeout, timeout, pool)",
                   name);
}

/* Percent-decodes in[0..n) into a new string; NULL when malformed. */
static char *decode_dup(const char *in, size_t n)
{
    char *out;
    if (n >= AD_JOBS_PARAM_MAX) return NULL;
    out = malloc(n + 1);
    if (out && ad_pct_decode(in, n, out, false) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static ad_code parse_userinfo(redis_jobs *r, const char *s, size_t n, ad_error *err)
{
    const char *colon = memchr(s, ':', n);
    if (!colon) return bad_url(err, "credentials must be :password or user:password");
    if (colon > s && !(r->user = decode_dup(s, (size_t)(colon - s))))
        return bad_url(err, "malformed or over-long user name");
    if (!(r->password = decode_dup(colon + 1, n - (size_t)(colon - s) - 1)))
        return bad_url(err, "malformed or over-long password");
    return AD_OK;
}

static ad_code parse_hostport(redis_jobs *r, const char *s, size_t n, ad_error *err)
{
    const char *end = s + n, *h = s, *he, *p = NULL;
    uint64_t v = 0;
    char num[8];
    if (n && *s == '[') { /* [v6 address] */
        h = s + 1;
        he = memchr(h, ']', n - 1);
        if (!he) return bad_url(err, "unclosed [ in the host");
        if (he + 1 < end) {
            if (he[1] != ':') return bad_url(err, "junk after the host");
            p = he + 2;
        }
    } else {
        he = memchr(s, ':', n);
        if (he)
            p = he + 1;
        else
            he = end;
    }
    if (he == h) return bad_url(err, "a host is needed");
    if ((size_t)(he - h) > REDIS_HOST_MAX) return bad_url(err, "host name too long");
    memcpy(r->host, h, (size_t)(he - h));
    r->host[he - h] = '\0';
    if (strpbrk(r->host, "%/?#@[] ")) return bad_url(err, "bad character in the host");
    r->port = REDIS_PORT_DEFAULT;
    if (p) {
        if ((size_t)(end - p) >= sizeof(num)) return bad_url(err, "port must be 1 to 65535");
        memcpy(num, p, (size_t)(end - p));
        num[end - p] = '\0';
        if (!ad_parse_u64(num, 65535, &v) || v == 0) return bad_url(err, "port must be 1 to 65535");
        r->port = (int)v;
    }
    return AD_OK;
}

static ad_code parse_url(redis_jobs *r, const char *url, ad_error *err)
{
    const char *a = url + strlen("redis:"), *auth_end, *at;
    uint64_t db = 0;
    char num[8];
    size_t n;
    ad_code rc;
    if (strncmp(a, "//", 2) != 0) return bad_url(err, "it must start with redis://");
    a += 2;
    auth_end = a + strcspn(a, "/?#");
    if (*auth_end == '#') return bad_url(err, "no #fragment");
    for (at = auth_end; at > a && at[-1] != '@'; at--) {
    }
    if (at > a && (rc = parse_userinfo(r, a, (size_t)(at - 1 - a), err))) return rc;
    if ((rc = parse_hostport(r, at, (size_t)(auth_end - at), err))) return rc;
    if (*auth_end == '/') {
        n = strcspn(auth_end + 1, "?");
        if (n) {
            if (n >= sizeof(num)) return bad_url(err, "the database must be a number (0 to 65535)");
            memcpy(num, auth_end + 1, n);
            num[n] = '\0';
            if (!ad_parse_u64(num, 65535, &db))
                return bad_url(err, "the database must be a number (0 to 65535)");
        }
    }
    r->db = (unsigned)db;
    rc = ad_jobs_url_params(url, set_param, r, err);
    if (rc) return rc;
    snprintf(r->where, sizeof(r->where), "redis %s%s%s:%d/%u", strchr(r->host, ':') ? "[" : "",
             r->host, strchr(r->host, ':') ? "]" : "", r->port, r->db);
    return AD_OK;
}

/* --- connections --- */

static ad_code unavailable(redis_jobs *r, ad_error *err, const char *why)
{
    return ad_fail(err, AD_E_UNAVAILABLE, "job store: %s: %s", r->where, why);
}

/* An error reply: Redis cannot serve now (AD_E_UNAVAILABLE), or refused
 * what was asked (AD_E_BACKEND). */
static ad_code reply_error(redis_jobs *r, const redisReply *rep, ad_error *err)
{
    static const char *const busy[] = {"LOADING",     "BUSY",      "MASTERDOWN", "READONLY",
                                       "NOAUTH",      "MISCONF",   "OOM",        "TRYAGAIN",
                                       "CLUSTERDOWN", "WRONGPASS", "NOPERM"};
    size_t i;
    for (i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
        size_t n = strlen(busy[i]);
        if (rep->len >= n && strncmp(rep->str, busy[i], n) == 0)
            return ad_fail(err, AD_E_UNAVAILABLE, "job store: %s: %.300s", r->where, rep->str);
    }
    return ad_fail(err, AD_E_BACKEND, "job store: %s: %.300s", r->where, rep->str);
}

/* rep, a reply just received on c, or NULL with *err set (see command below). */
static redisReply *checked(redis_jobs *r, redisContext *c, redisReply *rep, ad_error *err)
{
    if (!rep) {
        if (!c->err) c->err = REDIS_ERR_OTHER;
        unavailable(r, err, c->errstr[0] ? c->errstr : "no reply");
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        reply_error(r, rep, err);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Sends one command; returns its reply (free with freeReplyObject) or NULL
 * with *err set. An error reply is an error; the context is left with
 * c->err set when the connection failed, so the pool drops it. */
static redisReply *command(redis_jobs *r, redisContext *c, int argc, const char **argv,
                           const size_t *lens, ad_error *err)
{
    return checked(r, c, redisCommandArgv(c, argc, argv, lens), err);
}

static ad_code conn_setup(redis_jobs *r, redisContext *c, ad_error *err)
{
    const char *argv[3];
    char db[16];
    redisReply *rep;
    int n = 0;
    if (r->password) {
        argv[n++] = "AUTH";
        if (r->user) argv[n++] = r->user;
        argv[n++] = r->password;
        rep = command(r, c, n, argv, NULL, err);
        if (!rep) return err ? err->code : AD_E_UNAVAILABLE;
        freeReplyObject(rep);
    }
    if (r->db) {
        snprintf(db, sizeof(db), "%u", r->db);
        argv[0] = "SELECT", argv[1] = db;
        rep = command(r, c, 2, argv, NULL, err);
        if (!rep) return err ? err->code : AD_E_UNAVAILABLE;
        freeReplyObject(rep);
    }
    return AD_OK;
}

static ad_code conn_open(redis_jobs *r, redisContext **out, ad_error *err)
{
    redisContext *c = redisConnectWithTimeout(r->host, r->port, ms_tv(r->connect_ms));
    ad_code rc;
    if (!c) return ad_fail(err, AD_E_NOMEM, "out of memory");
    if (c->err) {
        rc = unavailable(r, err, c->errstr);
        redisFree(c);
        return rc;
    }
    redisSetTimeout(c, ms_tv(r->command_ms));
    redisEnableKeepAlive(c);
    rc = conn_setup(r, c, err);
    if (rc) {
        redisFree(c);
        return rc;
    }
    *out = c;
    return AD_OK;
}

/* An idle connection has nothing to say: readable means closed (Redis
 * restarted, or dropped us) or out of step. */
static bool conn_alive(redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static struct timespec after_ms(unsigned ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    return t;
}

/* Borrows a connection: an idle one that is still alive, a new one while
 * fewer than pool_max exist, else the next one given back. */
static ad_code pool_get(redis_jobs *r, redisContext **out, ad_error *err)
{
    struct timespec until = after_ms(POOL_WAIT_MS);
    ad_code rc;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->nidle) {
            redisContext *c = r->idle[--r->nidle];
            pthread_mutex_unlock(&r->mu);
            if (conn_alive(c)) {
                *out = c;
                return AD_OK;
            }
            redisFree(c);
            pthread_mutex_lock(&r->mu);
            r->nconn--;
            continue;
        }
        if (r->nconn < r->pool_max) {
            r->nconn++;
            pthread_mutex_unlock(&r->mu);
            rc = conn_open(r, out, err);
            if (rc) {
                pthread_mutex_lock(&r->mu);
                r->nconn--;
                pthread_cond_signal(&r->cv);
                pthread_mutex_unlock(&r->mu);
            }
            return rc;
        }
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&r->mu);
            return ad_fail(err, AD_E_UNAVAILABLE,
                           "job store: %s: all %u connections stayed busy for %d s", r->where,
                           r->pool_max, POOL_WAIT_MS / 1000);
        }
    }
}

/* Gives a borrowed connection back; a failed one is closed. */
static void pool_put(redis_jobs *r, redisContext *c)
{
    if (c->err) {
        redisFree(c);
        c = NULL;
    }
    pthread_mutex_lock(&r->mu);
    if (c)
        r->idle[r->nidle++] = c;
    else
        r->nconn--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* --- scripts --- */

static void sha1_hex(const char *s, char hex[41])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0, i;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
    for (i = 0; i < 20 && i < n; i++)
        hex[2 * i] = digits[md[i] >> 4], hex[2 * i + 1] = digits[md[i] & 15];
    hex[40] = '\0';
}

#define EVAL_ARGS_MAX 12

/* Runs script s with ARGV = prefix, args[0..nargs): EVALSHA, then EVAL
 * when Redis does not have it cached (after a restart or SCRIPT FLUSH). */
static redisReply *eval(redis_jobs *r, redisContext *c, int s, int nargs, const char *const *args,
                        ad_error *err)
{
    const char *argv[EVAL_ARGS_MAX + 4];
    redisReply *rep;
    int i;
    argv[0] = "EVALSHA", argv[1] = r->sha[s], argv[2] = "0", argv[3] = r->prefix;
    for (i = 0; i < nargs && i < EVAL_ARGS_MAX; i++) argv[4 + i] = args[i];
    rep = redisCommandArgv(c, 4 + i, argv, NULL);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL", argv[1] = script_src[s];
        rep = redisCommandArgv(c, 4 + i, argv, NULL);
    }
    return checked(r, c, rep, err);
}

/* --- replies --- */

static ad_code bad_reply(redis_jobs *r, ad_error *err, const char *what)
{
    return ad_fail(err, AD_E_BACKEND, "job store: %s: unexpected reply %s", r->where, what);
}

static bool is_str(const redisReply *e)
{
    return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS);
}

static bool parse_state(const char *s, ad_job_state *out)
{
    static const ad_job_state all[] = {AD_JOB_QUEUED, AD_JOB_PROCESSING, AD_JOB_SUCCESS,
                                       AD_JOB_FAILED};
    size_t i;
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, ad_job_state_name(all[i])) == 0) return *out = all[i], true;
    return false;
}

static bool parse_num(const redisReply *v, uint64_t *out)
{
    return v->len < 24 && ad_parse_u64(v->str, UINT64_MAX, out);
}

/* One field of a job's hash into *out; false when its value is malformed. */
static bool take_field(ad_job *out, const redisReply *k, const redisReply *v)
{
    uint64_t n = 0;
    const char *f = k->str;
    if (strcmp(f, "id") == 0) {
        if (v->len >= sizeof(out->id)) return false;
        memcpy(out->id, v->str, v->len + 1);
    } else if (strcmp(f, "state") == 0) {
        return parse_state(v->str, &out->state);
    } else if (strcmp(f, "reason") == 0) {
        snprintf(out->reason, sizeof(out->reason), "%s", v->str); /* cut if longer */
    } else if (strcmp(f, "asset_id") == 0 || strcmp(f, "source") == 0 || strcmp(f, "bucket") == 0) {
        char **dst = f[0] == 'a' ? &out->asset_id : f[0] == 's' ? &out->source : &out->bucket;
        if (v->len > FIELD_MAX || *dst) return false;
        if (!(*dst = ad_strndup(v->str, v->len))) return false;
    } else if (strcmp(f, "bytes_total") == 0 || strcmp(f, "bytes_done") == 0 ||
               strcmp(f, "files_total") == 0 || strcmp(f, "files_done") == 0) {
        uint64_t *dst = f[0] == 'b' ? (f[6] == 't' ? &out->bytes_total : &out->bytes_done)
                                    : (f[6] == 't' ? &out->files_total : &out->files_done);
        if (!parse_num(v, dst)) return false;
    } else if (strcmp(f, "created") == 0 || strcmp(f, "updated") == 0) {
        if (!parse_num(v, &n) || n > INT64_MAX) return false;
        *(f[0] == 'c' ? &out->created : &out->updated) = (int64_t)n;
    } else if (strcmp(f, "attempt") == 0) {
        if (!parse_num(v, &n) || n > UINT32_MAX) return false;
        out->attempt = (unsigned)n;
    }
    return true; /* seq, and fields of a later version */
}

/* An HGETALL reply of a job's hash into *out (clear it with ad_job_clear). */
static ad_code parse_job(redis_jobs *r, const redisReply *rep, ad_job *out, ad_error *err)
{
    size_t i;
    memset(out, 0, sizeof(*out));
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements % 2)
        return bad_reply(r, err, "for a job");
    for (i = 0; i < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];
        if (!is_str(k) || !is_str(v) || !take_field(out, k, v)) {
            ad_job_clear(out);
            return bad_reply(r, err, "in a job's fields");
        }
    }
    if (!out->id[0]) {
        ad_job_clear(out);
        return bad_reply(r, err, "for a job: no id");
    }
    return AD_OK;
}

/* --- the port --- */

static void redis_close(ad_jobs *j)
{
    redis_jobs *r = R(j);
    unsigned i;
    if (!r) return;
    for (i = 0; i < r->nidle; i++) redisFree(r->idle[i]);
    free(r->idle);
    free(r->user);
    free(r->password);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static ad_code redis_ping(ad_jobs *j, ad_error *err)
{
    redis_jobs *r = R(j);
    redisContext *c = NULL;
    const char *argv[] = {"PING"};
    redisReply *rep;
    ad_code rc = pool_get(r, &c, err);
    if (rc) return rc;
    rep = command(r, c, 1, argv, NULL, err);
    if (!rep)
        rc = err ? err->code : AD_E_UNAVAILABLE;
    else if (!is_str(rep) || strcmp(rep->str, "PONG") != 0)
        rc = bad_reply(r, err, "to PING");
    freeReplyObject(rep);
    pool_put(r, c);
    return rc;
}

static ad_code redis_open(const char *url, ad_jobs **out, ad_error *err)
{
    redis_jobs *r = calloc(1, sizeof(*r));
    ad_code rc;
    int i;
    if (!r) return ad_fail(err, AD_E_NOMEM, "out of memory");
    r->base.ops = &ad_jobs_redis_ops;
    r->lease_ms = (int64_t)LEASE_DEFAULT_S * 1000;
    r->connect_ms = CONNECT_MS_DEFAULT;
    r->command_ms = COMMAND_MS_DEFAULT;
    r->pool_max = POOL_DEFAULT;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    rc = parse_url(r, url, err);
    if (!rc && !(r->idle = calloc(r->pool_max, sizeof(*r->idle))))
        rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    for (i = 0; !rc && i < S_COUNT; i++) sha1_hex(script_src[i], r->sha[i]);
    if (!rc) rc = redis_ping(&r->base, err); /* a wrong address or password fails now */
    if (rc) {
        redis_close(&r->base);
        return rc;
    }
    *out = &r->base;
    return AD_OK;
}

/* Borrows a connection, runs script s, gives the connection back. */
static redisReply *run(redis_jobs *r, int s, int nargs, const char *const *args, ad_error *err)
{
    redisContext *c = NULL;
    redisReply *rep;
    if (pool_get(r, &c, err)) return NULL;
    rep = eval(r, c, s, nargs, args, err);
    pool_put(r, c);
    return rep;
}

static ad_code redis_create(ad_jobs *j, const ad_job *job, ad_error *err)
{
    redis_jobs *r = R(j);
    char total[24];
    const char *args[4];
    redisReply *rep;
    ad_code rc = AD_OK;
    snprintf(total, sizeof(total), "%llu", (unsigned long long)job->bytes_total);
    args[0] = job->id, args[1] = job->source ? job->source : "", args[2] = total;
    args[3] = job->bucket ? job->bucket : "";
    if (!(rep = run(r, S_CREATE, 4, args, err))) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, err, "to create");
    else if (rep->integer == 0)
        rc = ad_fail(err, AD_E_EXISTS, "job %s already exists", job->id);
    freeReplyObject(rep);
    return rc;
}

static ad_code redis_get(ad_jobs *j, const char *id, ad_job *out, ad_error *err)
{
    redis_jobs *r = R(j);
    redisContext *c = NULL;
    char key[REDIS_PREFIX_MAX + AD_JOB_ID_MAX + 16];
    const char *argv[2] = {"HGETALL", key};
    redisReply *rep;
    ad_code rc;
    if (strlen(id) >= AD_JOB_ID_MAX) return ad_fail(err, AD_E_NOT_FOUND, "upload not found");
    snprintf(key, sizeof(key), "%sassetd:job:%s", r->prefix, id);
    if ((rc = pool_get(r, &c, err))) return rc;
    rep = command(r, c, 2, argv, NULL, err);
    pool_put(r, c);
    if (!rep) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 0)
        rc = ad_fail(err, AD_E_NOT_FOUND, "upload %s not found", id);
    else
        rc = parse_job(r, rep, out, err);
    freeReplyObject(rep);
    return rc;
}

/* Moves the oldest queued id to the processing list (waiting up to wait_ms)
 * and starts it. AD_E_NOT_FOUND when none came. */
static ad_code claim_queued(redis_jobs *r, redisContext *c, unsigned wait_ms, ad_job *out,
                            ad_error *err)
{
    char queue[REDIS_PREFIX_MAX + 16], proc[REDIS_PREFIX_MAX + 24], secs[24], lease[24];
    const char *argv[6] = {wait_ms ? "BLMOVE" : "LMOVE", queue, proc, "LEFT", "RIGHT", secs};
    const char *args[2];
    redisReply *rep, *job;
    ad_code rc;
    snprintf(queue, sizeof(queue), "%sassetd:queue", r->prefix);
    snprintf(proc, sizeof(proc), "%sassetd:processing", r->prefix);
    snprintf(secs, sizeof(secs), "%u.%03u", wait_ms / 1000, wait_ms % 1000);
    if (wait_ms) redisSetTimeout(c, ms_tv(wait_ms + r->command_ms));
    rep = command(r, c, wait_ms ? 6 : 5, argv, NULL, err);
    if (wait_ms && !c->err) redisSetTimeout(c, ms_tv(r->command_ms));
    if (!rep) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return AD_E_NOT_FOUND;
    }
    if (rep->type != REDIS_REPLY_STRING || rep->len >= AD_JOB_ID_MAX) {
        freeReplyObject(rep);
        return bad_reply(r, err, "to BLMOVE");
    }
    snprintf(lease, sizeof(lease), "%lld", (long long)r->lease_ms);
    args[0] = rep->str, args[1] = lease;
    job = eval(r, c, S_START, 2, args, err);
    freeReplyObject(rep);
    if (!job) return err ? err->code : AD_E_UNAVAILABLE;
    rc = job->type == REDIS_REPLY_NIL ? AD_E_NOT_FOUND : parse_job(r, job, out, err);
    freeReplyObject(job);
    return rc;
}

static ad_code redis_claim(ad_jobs *j, unsigned wait_ms, ad_job *out, ad_error *err)
{
    redis_jobs *r = R(j);
    redisContext *c = NULL;
    char lease[24];
    const char *args[1] = {lease};
    redisReply *rep;
    ad_code rc = pool_get(r, &c, err);
    if (rc) return rc;
    snprintf(lease, sizeof(lease), "%lld", (long long)r->lease_ms);
    rep = eval(r, c, S_RECLAIM, 1, args, err);
    if (!rep) {
        rc = err ? err->code : AD_E_UNAVAILABLE;
    } else if (rep->type == REDIS_REPLY_ARRAY) {
        if (rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_INTEGER)
            rc = bad_reply(r, err, "to a reclaim");
        else if (!(rc = parse_job(r, rep->element[1], out, err)))
            out->recovered = rep->element[0]->integer == 1;
    } else if (rep->type == REDIS_REPLY_NIL) {
        rc = claim_queued(r, c, wait_ms, out, err);
    } else {
        rc = bad_reply(r, err, "to a reclaim");
    }
    freeReplyObject(rep);
    pool_put(r, c);
    if (rc == AD_E_NOT_FOUND) ad_error_clear(err);
    return rc;
}

static ad_code redis_progress(ad_jobs *j, const ad_job *job, ad_error *err)
{
    redis_jobs *r = R(j);
    char n[5][24], lease[24];
    const char *args[8];
    redisReply *rep;
    ad_code rc = AD_OK;
    snprintf(n[0], 24, "%llu", (unsigned long long)job->bytes_total);
    snprintf(n[1], 24, "%llu", (unsigned long long)job->bytes_done);
    snprintf(n[2], 24, "%llu", (unsigned long long)job->files_total);
    snprintf(n[3], 24, "%llu", (unsigned long long)job->files_done);
    snprintf(n[4], 24, "%u", job->attempt);
    snprintf(lease, sizeof(lease), "%lld", (long long)r->lease_ms);
    args[0] = job->id, args[1] = n[0], args[2] = n[1], args[3] = n[2], args[4] = n[3];
    args[5] = job->asset_id ? job->asset_id : "", args[6] = n[4], args[7] = lease;
    if (!(rep = run(r, S_PROGRESS, 8, args, err))) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, err, "to progress");
    else if (rep->element[0]->integer == 0)
        rc = ad_fail(err, AD_E_NOT_FOUND, "upload %s not found", job->id);
    else if (rep->element[0]->integer == 2)
        rc = ad_fail(err, AD_E_PRECONDITION, "upload %s: lease lost (attempt %u, now %lld)",
                     job->id, job->attempt, rep->element[1]->integer);
    freeReplyObject(rep);
    return rc;
}

/* Runs cmd (SADD with arg, or DEL) on the job's set of keys and checks
 * the reply is an integer. */
static ad_code key_command(redis_jobs *r, const char *cmd, const char *id, const char *arg,
                           ad_error *err)
{
    redisContext *c = NULL;
    char key[REDIS_PREFIX_MAX + AD_JOB_ID_MAX + 16];
    const char *argv[3] = {cmd, key, arg};
    redisReply *rep;
    ad_code rc;
    snprintf(key, sizeof(key), "%sassetd:keys:%s", r->prefix, id);
    if ((rc = pool_get(r, &c, err))) return rc;
    rep = command(r, c, arg ? 3 : 2, argv, NULL, err);
    pool_put(r, c);
    if (!rep) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type != REDIS_REPLY_INTEGER) rc = bad_reply(r, err, cmd);
    freeReplyObject(rep);
    return rc;
}

static ad_code redis_add_key(ad_jobs *j, const char *id, const char *key, ad_error *err)
{
    if (strlen(id) >= AD_JOB_ID_MAX) return ad_fail(err, AD_E_NOT_FOUND, "upload not found");
    return key_command(R(j), "SADD", id, key, err);
}

static ad_code redis_clear_keys(ad_jobs *j, const char *id, ad_error *err)
{
    if (strlen(id) >= AD_JOB_ID_MAX) return AD_OK;
    return key_command(R(j), "DEL", id, NULL, err);
}

/* Hands each member of one SSCAN page to fn; 1 when fn stopped the walk. */
static int scan_page(const redisReply *page, ad_job_key_fn fn, void *ctx)
{
    size_t i;
    for (i = 0; i < page->elements; i++)
        if (is_str(page->element[i]) && fn(ctx, page->element[i]->str)) return 1;
    return 0;
}

static ad_code redis_keys(ad_jobs *j, const char *id, ad_job_key_fn fn, void *ctx, ad_error *err)
{
    redis_jobs *r = R(j);
    redisContext *c = NULL;
    char key[REDIS_PREFIX_MAX + AD_JOB_ID_MAX + 16], cursor[24] = "0";
    const char *argv[5] = {"SSCAN", key, cursor, "COUNT", SCAN_BATCH};
    ad_code rc;
    if (strlen(id) >= AD_JOB_ID_MAX) return AD_OK;
    snprintf(key, sizeof(key), "%sassetd:keys:%s", r->prefix, id);
    if ((rc = pool_get(r, &c, err))) return rc;
    do {
        redisReply *rep = command(r, c, 5, argv, NULL, err);
        int stop;
        if (!rep) {
            rc = err ? err->code : AD_E_UNAVAILABLE;
            break;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || !is_str(rep->element[0]) ||
            rep->element[0]->len >= sizeof(cursor) || rep->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(rep);
            rc = bad_reply(r, err, "to SSCAN");
            break;
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
        stop = scan_page(rep->element[1], fn, ctx);
        freeReplyObject(rep);
        if (stop) break;
    } while (strcmp(cursor, "0") != 0);
    pool_put(r, c);
    return rc;
}

static ad_code redis_finish(ad_jobs *j, const char *id, ad_job_state state, const char *reason,
                            ad_error *err)
{
    redis_jobs *r = R(j);
    char ttl[24];
    const char *args[4];
    redisReply *rep;
    ad_code rc = AD_OK;
    if (state == AD_JOB_PROCESSING)
        return ad_fail(err, AD_E_BAD_REQUEST, "upload %s: only a claim makes a job processing", id);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(r->base.ttl > 0 ? r->base.ttl : 0));
    args[0] = id, args[1] = ad_job_state_name(state);
    args[2] = state == AD_JOB_FAILED && reason ? reason : "", args[3] = ttl;
    if (!(rep = run(r, S_FINISH, 4, args, err))) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, err, "to finish");
    else if (rep->integer == 0)
        rc = ad_fail(err, AD_E_NOT_FOUND, "upload %s not found", id);
    freeReplyObject(rep);
    return rc;
}

static ad_code redis_list(ad_jobs *j, ad_job_state s, char (*ids)[AD_JOB_ID_MAX], size_t max,
                          size_t *n, ad_error *err)
{
    redis_jobs *r = R(j);
    char smax[24];
    const char *args[2] = {ad_job_state_name(s), smax};
    redisReply *rep;
    size_t i;
    ad_code rc = AD_OK;
    *n = 0;
    if (!max) return AD_OK;
    snprintf(smax, sizeof(smax), "%zu", max);
    if (!(rep = run(r, S_LIST, 2, args, err))) return err ? err->code : AD_E_UNAVAILABLE;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements > max) {
        rc = bad_reply(r, err, "to list");
    } else {
        for (i = 0; i < rep->elements; i++) {
            const redisReply *e = rep->element[i];
            if (!is_str(e) || e->len >= AD_JOB_ID_MAX) {
                rc = bad_reply(r, err, "in a list of jobs");
                break;
            }
            memcpy(ids[(*n)++], e->str, e->len + 1);
        }
    }
    freeReplyObject(rep);
    return rc;
}

static ad_code redis_expire(ad_jobs *j, int64_t before, size_t *n, ad_error *err)
{
    redis_jobs *r = R(j);
    char sbefore[24];
    const char *args[1] = {sbefore};
    bool more = true;
    size_t total = 0;
    ad_code rc = AD_OK;
    snprintf(sbefore, sizeof(sbefore), "%lld", (long long)before);
    while (!rc && more) {
        redisReply *rep = run(r, S_EXPIRE, 1, args, err);
        if (!rep) {
            rc = err ? err->code : AD_E_UNAVAILABLE;
            break;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_INTEGER ||
            rep->element[1]->type != REDIS_REPLY_INTEGER || rep->element[0]->integer < 0) {
            rc = bad_reply(r, err, "to expire");
        } else {
            total += (size_t)rep->element[0]->integer;
            more = rep->element[1]->integer == 1;
        }
        freeReplyObject(rep);
    }
    if (n) *n = total;
    return rc;
}

const ad_jobs_ops ad_jobs_redis_ops = {
    .version = AD_JOBS_OPS_VERSION,
    .scheme = "redis",
    .open = redis_open,
    .close = redis_close,
    .ping = redis_ping,
    .create = redis_create,
    .get = redis_get,
    .claim = redis_claim,
    .progress = redis_progress,
    .add_key = redis_add_key,
    .keys = redis_keys,
    .clear_keys = redis_clear_keys,
    .finish = redis_finish,
    .list = redis_list,
    .expire = redis_expire,
};
