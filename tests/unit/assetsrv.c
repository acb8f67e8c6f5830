/*
 * assetsrv.c — see assetsrv.h. The server script is found through
 * ASSETD_SOURCE_DIR (set by CMake); the interpreter is /usr/bin/python3,
 * else the first python3 on PATH.
 */
#include "assetsrv.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef ASSETD_SOURCE_DIR
#define ASSETD_SOURCE_DIR "."
#endif

static int find_python(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (access("/usr/bin/python3", X_OK) == 0) {
        snprintf(out, cap, "/usr/bin/python3");
        return 0;
    }
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(out, cap, "%.*s/python3", (int)n, path);
        if (n && access(out, X_OK) == 0) return 0;
        path += n + (path[n] == ':');
    }
    return -1;
}

int assetsrv_start(assetsrv *s)
{
    char py[512], script[1024], portfile[320], ppid[32];
    struct timespec nap = {0, 50 * 1000 * 1000};
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    if (find_python(py, sizeof(py)) != 0) {
        fprintf(stderr, "SKIP: python3 is not installed; assetsrv.py cannot run\n");
        return 77;
    }
    snprintf(script, sizeof(script), "%s/tests/servers/assetsrv.py", ASSETD_SOURCE_DIR);
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "assetsrv: %s: %s\n", script, strerror(errno));
        return 1;
    }
    snprintf(s->dir, sizeof(s->dir), "%s/assetsrv-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(s->dir)) {
        fprintf(stderr, "assetsrv: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
    snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
    s->pid = fork();
    if (s->pid < 0) return 1;
    if (s->pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        execl(py, py, script, "--root", s->dir, "--port-file", portfile, "--parent-pid", ppid,
              "--max-lifetime", "600", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) { /* up to 30 s: generating fixtures takes a moment */
        FILE *f = fopen(portfile, "r");
        int status;
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok && s->port > 0) {
                snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
                return 0;
            }
        }
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "assetsrv: the server exited before listening\n");
            s->pid = -1;
            return 1;
        }
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "assetsrv: no port after 30 s\n");
    assetsrv_stop(s);
    return 1;
}

void assetsrv_stop(assetsrv *s)
{
    char cmd[400];
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
    }
    if (s->dir[0] && strncmp(s->dir, "/", 1) == 0 && strstr(s->dir, "assetsrv-test-")) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0) fprintf(stderr, "assetsrv: could not remove %s\n", s->dir);
    }
}

const char *assetsrv_url(const assetsrv *s, const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", s->base, path);
    return out;
}

typedef struct membuf {
    char *p;
    size_t n;
} membuf;

static size_t to_mem(char *p, size_t size, size_t n, void *cls)
{
    membuf *m = cls;
    char *g = realloc(m->p, m->n + size * n + 1);
    if (!g) return 0;
    memcpy(g + m->n, p, size * n);
    m->p = g;
    m->n += size * n;
    m->p[m->n] = '\0';
    return size * n;
}

/* One request to the server; the status, the body in *m. */
static long call(const assetsrv *s, const char *method, const char *path, const void *data,
                 size_t len, membuf *m)
{
    char url[512];
    long code = -1;
    CURL *h = curl_easy_init();
    if (!h) return -1;
    curl_easy_setopt(h, CURLOPT_URL, assetsrv_url(s, path, url, sizeof(url)));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_mem);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, m);
    if (data) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return code;
}

json_t *assetsrv_requests(const assetsrv *s, const char *kind)
{
    char path[128];
    membuf m = {0};
    json_t *j = NULL;
    snprintf(path, sizeof(path), "/_requests%s%s", kind ? "?kind=" : "", kind ? kind : "");
    if (call(s, "GET", path, NULL, 0, &m) == 200 && m.p)
        j = json_loadb(m.p, m.n, JSON_ALLOW_NUL, NULL);
    free(m.p);
    return j ? j : json_array();
}

void assetsrv_clear(const assetsrv *s)
{
    membuf m = {0};
    call(s, "DELETE", "/_requests", NULL, 0, &m);
    free(m.p);
}

long assetsrv_put_file(const assetsrv *s, const char *name, const void *data, size_t len)
{
    char path[300];
    membuf m = {0};
    long code;
    snprintf(path, sizeof(path), "/files/%s", name);
    code = call(s, "PUT", path, data ? data : "", len, &m);
    free(m.p);
    return code;
}

char *assetsrv_fixture(const assetsrv *s, const char *name, size_t *len)
{
    char path[600];
    FILE *f;
    char *buf = NULL;
    long n;
    snprintf(path, sizeof(path), "%s/files/%s", s->dir, name);
    if (!(f = fopen(path, "rb"))) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}
