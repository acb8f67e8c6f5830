/*
 * test_jobs_redis.c — the Redis job store against a real redis-server
 * (scripts/servers/redis.sh, started by scripts/test.sh):
 *
 *   - URL parsing and an unreachable server (no server needed);
 *   - credentials (an ACL user made for the run: the right password works,
 *     a wrong one is unavailable and never echoed) and a database number;
 *   - the job port's contract suite (jobs_contract.c), two handles acting as
 *     two instances;
 *   - the seed's key: UPLOAD_STATUS:<id> holds "queued", "processing",
 *     "success" or "failed: <reason>" at every step, the richer fields sit
 *     in the job's hash, recorded blob keys in a set, and a finished job's
 *     keys expire after ad_jobs.ttl;
 *   - Redis stopped (redis.sh stop $ASSETD_TEST_REDIS_DIR): every call is
 *     AD_E_UNAVAILABLE naming the server; restarted: the same handle works
 *     again and nothing accepted before the stop is lost.
 *
 * Needs ASSETD_TEST_REDIS_URL (exits 77, skipped, without it); the outage
 * part also needs ASSETD_TEST_REDIS_DIR. Every key of a run starts with a
 * prefix unique to the run, and is deleted at the end.
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "jobs_contract.h"
#include "store/jobs.h"

#ifndef ASSETD_SOURCE_DIR
#define ASSETD_SOURCE_DIR "."
#endif

static char prefix[96];

static const char *code_name(ad_code c)
{
    return c == AD_OK ? "ok" : ad_code_name(c);
}

/* --- without a server --- */

static void expect_bad(const char *url)
{
    ad_jobs *j = NULL;
    ad_error err = {0};
    ad_code rc = ad_jobs_open(url, &j, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "%s: %s (%s)", url, code_name(rc), err.msg);
    if (j) j->ops->close(j);
}

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void test_urls(void)
{
    ad_jobs *j = NULL;
    ad_error err = {0};
    char url[128];
    ad_code rc;
    expect_bad("redis:");
    expect_bad("redis:host");
    expect_bad("redis://");
    expect_bad("redis:///0");
    expect_bad("redis://h:0");
    expect_bad("redis://h:65536");
    expect_bad("redis://h:12x");
    expect_bad("redis://h/abc");
    expect_bad("redis://h/70000");
    expect_bad("redis://h#frag");
    expect_bad("redis://user@h");
    expect_bad("redis://[::1");
    expect_bad("redis://[::1]x");
    expect_bad("redis://h?nope=1");
    expect_bad("redis://h?visibility_timeout=0");
    expect_bad("redis://h?visibility_timeout=86401");
    expect_bad("redis://h?prefix=a%20b");
    expect_bad("redis://h?pool=0");
    expect_bad("redis://h?timeout=-1");
    /* nothing listens: unavailable, naming the server but not the password */
    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d/0", closed_port());
    rc = ad_jobs_open(url, &j, &err);
    CHECK(rc == AD_E_UNAVAILABLE && strstr(err.msg, "127.0.0.1") && !strstr(err.msg, "s3cret"),
          "unreachable: %s (%s)", code_name(rc), err.msg);
    if (j) j->ops->close(j);
}

/* --- a raw connection, to look at the keys --- */

static redisContext *raw_connect(const char *url)
{
    char host[256];
    int port = 6379, db = 0;
    redisContext *c;
    if (sscanf(url, "redis://%255[^:/]:%d/%d", host, &port, &db) < 2) return NULL;
    c = redisConnect(host, port);
    if (c && !c->err && db) freeReplyObject(redisCommand(c, "SELECT %d", db));
    return c;
}

/* GET of a key of the run (NULL when missing); caller frees. */
static char *raw_get(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "GET %s%s", prefix, key);
    char *s = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (r) freeReplyObject(r);
    return s;
}

static long long raw_int(redisContext *c, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(c, "%s %s%s", cmd, prefix, key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;
    if (r) freeReplyObject(r);
    return v;
}

static void expect_status(redisContext *c, const char *id, const char *want, const char *when)
{
    char key[128], *got;
    snprintf(key, sizeof(key), "UPLOAD_STATUS:%s", id);
    got = raw_get(c, key);
    CHECK(got && strcmp(got, want) == 0, "%s: %s%s is \"%s\", want \"%s\"", when, prefix, key,
          got ? got : "(nil)", want);
    free(got);
}

static void delete_run_keys(redisContext *c)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 1000", cursor, prefix);
        size_t i;
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r) freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (i = 0; i < r->element[1]->elements; i++)
            freeReplyObject(redisCommand(c, "DEL %s", r->element[1]->element[i]->str));
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

/* --- the seed's key --- */

static ad_jobs *open_run(const char *base, const char *sub)
{
    char url[512];
    ad_jobs *j = NULL;
    ad_error err = {0};
    ad_code rc;
    snprintf(url, sizeof(url), "%s%cprefix=%s%s", base, strchr(base, '?') ? '&' : '?', prefix, sub);
    rc = ad_jobs_open(url, &j, &err);
    CHECK(rc == AD_OK, "open %s: %s (%s)", url, code_name(rc), err.msg);
    return j;
}

static void create(ad_jobs *j, const char *id)
{
    ad_job job = {0};
    ad_error err = {0};
    ad_code rc;
    snprintf(job.id, sizeof(job.id), "%s", id);
    job.source = (char *)"/spool/s.zip";
    job.bytes_total = 7;
    rc = j->ops->create(j, &job, &err);
    CHECK(rc == AD_OK, "create %s: %s (%s)", id, code_name(rc), err.msg);
}

static void claim_expect(ad_jobs *j, const char *id, ad_job *out)
{
    ad_error err = {0};
    ad_code rc = j->ops->claim(j, 0, out, &err);
    CHECK(rc == AD_OK && strcmp(out->id, id) == 0, "claim %s: %s (%s)", id, code_name(rc),
          rc ? err.msg : out->id);
    if (rc) memset(out, 0, sizeof(*out));
}

static void test_status_key(redisContext *c, const char *base)
{
    ad_jobs *j = open_run(base, "s:");
    ad_job job;
    ad_error err = {0};
    char key[128];
    int waited = 0;
    char *s;
    size_t n = 0;
    if (!j) return;
    /* the prefix of open_run is part of every key */
    strncat(prefix, "s:", sizeof(prefix) - strlen(prefix) - 1);

    create(j, "u1");
    expect_status(c, "u1", "queued", "created");
    claim_expect(j, "u1", &job);
    expect_status(c, "u1", "processing", "claimed");
    job.bytes_done = 3, job.files_total = 2, job.files_done = 1;
    job.asset_id = strdup("asset-u1");
    CHECK(j->ops->progress(j, &job, &err) == AD_OK, "progress: %s", err.msg);
    expect_status(c, "u1", "processing", "progress");
    {
        redisReply *r = redisCommand(c, "HGET %sassetd:job:u1 asset_id", prefix);
        CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "asset-u1") == 0,
              "asset_id beside the status");
        if (r) freeReplyObject(r);
    }
    CHECK(j->ops->add_key(j, "u1", "u1/a.bin", &err) == AD_OK, "%s", err.msg);
    CHECK(raw_int(c, "SCARD", "assetd:keys:u1") == 1, "recorded key in a set");
    CHECK(raw_int(c, "TTL", "UPLOAD_STATUS:u1") == -1, "no expiry while it runs");

    j->ttl = 2;
    CHECK(j->ops->finish(j, "u1", AD_JOB_SUCCESS, NULL, &err) == AD_OK, "%s", err.msg);
    expect_status(c, "u1", "success", "finished");
    {
        long long t1 = raw_int(c, "TTL", "UPLOAD_STATUS:u1"),
                  t2 = raw_int(c, "TTL", "assetd:job:u1"), t3 = raw_int(c, "TTL", "assetd:keys:u1");
        CHECK(t1 > 0 && t1 <= 2 && t2 > 0 && t2 <= 2 && t3 > 0 && t3 <= 2,
              "finished: expiry set on status %lld, hash %lld, keys %lld", t1, t2, t3);
    }
    ad_job_clear(&job);
    j->ttl = 0; /* the next ones stay until expire() */

    create(j, "u2");
    claim_expect(j, "u2", &job);
    CHECK(j->ops->finish(j, "u2", AD_JOB_FAILED, "corrupt archive: bad CRC", &err) == AD_OK, "%s",
          err.msg);
    expect_status(c, "u2", "failed: corrupt archive: bad CRC", "failed");
    ad_job_clear(&job);

    create(j, "u3");
    claim_expect(j, "u3", &job);
    CHECK(j->ops->finish(j, "u3", AD_JOB_QUEUED, NULL, &err) == AD_OK, "%s", err.msg);
    expect_status(c, "u3", "queued", "requeued");
    CHECK(raw_int(c, "TTL", "UPLOAD_STATUS:u3") == -1, "a queued job does not expire");
    ad_job_clear(&job);

    /* Redis itself removes the finished job once its time is up */
    snprintf(key, sizeof(key), "UPLOAD_STATUS:u1");
    while ((s = raw_get(c, key)) && waited < 15000) {
        free(s);
        usleep(100000);
        waited += 100;
    }
    CHECK(!s, "UPLOAD_STATUS:u1 expired");
    free(s);
    CHECK(j->ops->get(j, "u1", &job, &err) == AD_E_NOT_FOUND, "expired job is gone");
    /* expire() still sweeps its index entry, and counts only what it removed */
    CHECK(j->ops->expire(j, (int64_t)time(NULL) + 10, &n, &err) == AD_OK && n == 1,
          "expire after Redis did: %zu (u2 only)", n);
    CHECK(raw_int(c, "EXISTS", "assetd:job:u2") == 0 &&
              raw_int(c, "EXISTS", "UPLOAD_STATUS:u2") == 0,
          "expire() removed u2's keys");
    j->ops->close(j);
    prefix[strlen(prefix) - 2] = '\0';
}

/* --- credentials and database --- */

/* An ACL user made for the run (the default user is left alone): the right
 * password works, a wrong one is unavailable without being echoed. Then
 * /1 selects database 1. */
static void test_auth_and_db(redisContext *c, const char *base)
{
    char user[64], host[256], url[512];
    int port = 0;
    ad_jobs *j = NULL;
    ad_error err = {0};
    ad_code rc;
    redisReply *r;
    if (sscanf(base, "redis://%255[^:/]:%d", host, &port) != 2) return;
    snprintf(user, sizeof(user), "assetd-test-%ld", (long)getpid());
    r = redisCommand(c, "ACL SETUSER %s on >pw%%3A1 ~* &* +@all", user);
    CHECK(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r && r->str ? r->str : "?");
    if (r) freeReplyObject(r);

    /* the password is "pw%3A1" in Redis; in the URL its % is encoded */
    snprintf(url, sizeof(url), "redis://%s:pw%%253A1@%s:%d/0?prefix=%sa:", user, host, port,
             prefix);
    rc = ad_jobs_open(url, &j, &err);
    CHECK(rc == AD_OK, "ACL user: %s (%s)", code_name(rc), err.msg);
    if (j) j->ops->close(j);
    j = NULL;
    snprintf(url, sizeof(url), "redis://%s:wrong-pw@%s:%d/0", user, host, port);
    rc = ad_jobs_open(url, &j, &err);
    CHECK(rc == AD_E_UNAVAILABLE && strstr(err.msg, "WRONGPASS") && !strstr(err.msg, "wrong-pw"),
          "wrong password: %s (%s)", code_name(rc), err.msg);
    if (j) j->ops->close(j);
    j = NULL;
    r = redisCommand(c, "ACL DELUSER %s", user);
    if (r) freeReplyObject(r);

    snprintf(url, sizeof(url), "redis://%s:%d/1?prefix=%sd:", host, port, prefix);
    rc = ad_jobs_open(url, &j, &err);
    CHECK(rc == AD_OK, "database 1: %s (%s)", code_name(rc), err.msg);
    if (!j) return;
    create(j, "db-1");
    r = redisCommand(c, "SELECT 1");
    if (r) freeReplyObject(r);
    CHECK(raw_int(c, "EXISTS", "d:UPLOAD_STATUS:db-1") == 1, "the job is in database 1");
    r = redisCommand(c,
                     "DEL %sd:UPLOAD_STATUS:db-1 %sd:assetd:job:db-1 %sd:assetd:queue "
                     "%sd:assetd:seq",
                     prefix, prefix, prefix, prefix);
    if (r) freeReplyObject(r);
    r = redisCommand(c, "SELECT 0");
    if (r) freeReplyObject(r);
    CHECK(raw_int(c, "EXISTS", "d:UPLOAD_STATUS:db-1") == 0, "and not in database 0");
    j->ops->close(j);
}

/* --- outage --- */

static int redis_script(const char *what, const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "bash '%s/scripts/servers/redis.sh' %s '%s' >/dev/null",
             ASSETD_SOURCE_DIR, what, dir);
    return system(cmd);
}

static void test_outage(const char *base, const char *dir)
{
    ad_jobs *j = open_run(base, "o:");
    ad_job job = {0};
    ad_error err = {0};
    ad_code rc;
    if (!j) return;
    create(j, "kept-1");
    CHECK(redis_script("stop", dir) == 0, "redis.sh stop");

    rc = j->ops->ping(j, &err);
    CHECK(rc == AD_E_UNAVAILABLE && strstr(err.msg, "redis 127.0.0.1"), "down: ping %s (%s)",
          code_name(rc), err.msg);
    snprintf(job.id, sizeof(job.id), "new-1");
    rc = j->ops->create(j, &job, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "down: create %s (%s)", code_name(rc), err.msg);
    rc = j->ops->get(j, "kept-1", &job, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "down: get %s (%s)", code_name(rc), err.msg);
    rc = j->ops->claim(j, 100, &job, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "down: claim %s (%s)", code_name(rc), err.msg);
    rc = j->ops->finish(j, "kept-1", AD_JOB_FAILED, "x", &err);
    CHECK(rc == AD_E_UNAVAILABLE, "down: finish %s (%s)", code_name(rc), err.msg);

    CHECK(redis_script("start", dir) == 0, "redis.sh start");
    rc = j->ops->ping(j, &err);
    CHECK(rc == AD_OK, "back: ping on the same handle: %s (%s)", code_name(rc), err.msg);
    rc = j->ops->get(j, "kept-1", &job, &err);
    CHECK(rc == AD_OK && job.state == AD_JOB_QUEUED, "back: the job accepted before is there: %s",
          code_name(rc));
    if (rc == AD_OK) ad_job_clear(&job);
    claim_expect(j, "kept-1", &job);
    ad_job_clear(&job);
    create(j, "new-1");
    CHECK(j->ops->finish(j, "kept-1", AD_JOB_SUCCESS, NULL, &err) == AD_OK, "back: finish: %s",
          err.msg);
    j->ops->close(j);
}

int main(void)
{
    const char *base = getenv("ASSETD_TEST_REDIS_URL"), *dir = getenv("ASSETD_TEST_REDIS_DIR");
    char url[512];
    redisContext *c;
    int failed;
    signal(SIGPIPE, SIG_IGN); /* as assetd does: hiredis writes with write() */
    test_urls();
    if (!base || !*base) {
        printf("jobs_redis: SKIPPED the Redis tests: ASSETD_TEST_REDIS_URL is not set "
               "(scripts/test.sh starts a redis-server with scripts/servers/redis.sh)\n");
        check_summary("jobs_redis (URL checks only)");
        return check_failed ? 1 : 77;
    }
    snprintf(prefix, sizeof(prefix), "assetd-test-%ld-%ld-", (long)getpid(), (long)time(NULL));
    c = raw_connect(base);
    CHECK(c && !c->err, "connect to %s: %s", base, c ? c->errstr : "?");

    snprintf(url, sizeof(url), "%s%cprefix=%sc:", base, strchr(base, '?') ? '&' : '?', prefix);
    failed = jobs_contract_run(url, true);
    CHECK(failed == 0, "contract: %d failed checks (see above)", failed);

    if (c && !c->err) test_status_key(c, base);
    if (c && !c->err) test_auth_and_db(c, base);
    if (dir && *dir)
        test_outage(base, dir);
    else
        printf("jobs_redis: SKIPPED the outage test: ASSETD_TEST_REDIS_DIR is not set\n");

    if (c) redisFree(c);
    c = raw_connect(base); /* the first one died with the server */
    if (c && !c->err) delete_run_keys(c);
    if (c) redisFree(c);
    return check_summary("jobs_redis");
}
