/*
 * transfer.c — assetctl's ZIP commands, which move files rather than JSON:
 *
 *   upload FILE [--wait]   multipart POST /zip/upload streamed from the file
 *                          (libcurl's mime API reads it in chunks), then with
 *                          --wait polls GET /zip/status/ID until the job ends;
 *   status UPLOAD_ID       GET /zip/status/ID;
 *   download ID [-o FILE]  GET /zip/download/ID into FILE.part, renamed to
 *                          FILE when complete. An interrupted download
 *                          leaves FILE.part and FILE.part.etag; the next run
 *                          asks for the rest with Range and If-Range (the
 *                          archive's ETag), so a changed asset restarts from
 *                          the beginning instead of mixing two archives.
 *
 * Progress bars go to stderr when it is a terminal, or with --progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/assetctl.h"

#define POLL_MS      300
#define ERR_BODY_MAX (64 * 1024)
#define BAR_WIDTH    30

/* ------------------------------------------------------------- progress */

struct progress {
    bool on;
    const char *what;
    curl_off_t base; /* bytes already there before this transfer (resume) */
    double last, start;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(char *out, size_t cap, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < sizeof units / sizeof units[0]) bytes /= 1024, u++;
    snprintf(out, cap, "%.1f %s", bytes, units[u]);
}

static void draw(struct progress *p, curl_off_t done, curl_off_t total, bool final)
{
    char d[32], t[32], rate[32], bar[BAR_WIDTH + 1];
    double el = now_s() - p->start, frac = total > 0 ? (double)done / (double)total : 0;
    int fill = (int)(frac * BAR_WIDTH), i;
    if (!p->on) return;
    if (!final && now_s() - p->last < 0.1) return;
    p->last = now_s();
    for (i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    human(d, sizeof d, (double)done);
    human(t, sizeof t, (double)total);
    human(rate, sizeof rate, el > 0 ? (double)(done - p->base) / el : 0);
    fprintf(stderr, "\r%s [%s] %3d%% %s / %s %s/s  ", p->what, bar, (int)(frac * 100), d,
            total > 0 ? t : "?", rate);
    if (final) fputc('\n', stderr);
}

static int on_upload_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn;
    draw(cls, un, ut, false);
    return 0;
}

static int on_download_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                                curl_off_t un)
{
    struct progress *p = cls;
    (void)ut, (void)un;
    draw(p, p->base + dn, dt > 0 ? p->base + dt : 0, false);
    return 0;
}

static void progress_init(struct progress *p, const struct xfer_opts *o, const char *what)
{
    memset(p, 0, sizeof *p);
    p->on = o->progress || isatty(STDERR_FILENO);
    p->what = what;
    p->start = now_s();
}

/* ---------------------------------------------------------------- common */

static void common_setup(CURL *h, const struct client *cl, const char *url, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "assetctl/" ASSETCTL_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    client_setup(h, cl);
    /* a transfer may take long: give up only when it stalls */
    if (cl->timeout_ms) {
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cl->timeout_ms);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (cl->timeout_ms + 999) / 1000);
    }
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    client_setup_tls(h, cl);
}

static size_t collect(char *p, size_t size, size_t n, void *cls)
{
    struct buf *b = cls;
    size_t len = size * n;
    if (b->len + len > ERR_BODY_MAX) return len; /* keep the head, drop the rest */
    return buf_add(b, p, len) ? len : 0;
}

/* Prints the error envelope in body (or the status). */
static void report(const char *what, long status, const struct buf *body)
{
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(root, "error"));
    const char *code = json_string_value(json_object_get(root, "code"));
    if (msg)
        fprintf(stderr, "assetctl: %s: %s (%s, HTTP %ld)\n", what, msg, code ? code : "error",
                status);
    else
        fprintf(stderr, "assetctl: %s: the server answered HTTP %ld\n", what, status);
    json_decref(root);
}

static int unreachable(const struct client *cl, CURLcode res, const char *errbuf)
{
    return report_unreachable(cl, res, errbuf);
}

/* GETs url and parses the JSON answer (200 only) into *out. */
static int get_json(const struct client *cl, const char *url, const char *what, json_t **out)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct buf body = {0};
    long status = 0;
    int rc = RC_OK;
    CURL *h = curl_easy_init();
    if (!h) return oom();
    common_setup(h, cl, url, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    CURLcode res = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (res != CURLE_OK) {
        rc = unreachable(cl, res, errbuf);
    } else if (status != 200 ||
               !(*out = json_loadb(body.data ? body.data : "", body.len, 0, NULL))) {
        report(what, status, &body);
        rc = RC_FAIL;
    }
    buf_free(&body);
    return rc;
}

static int print_json_line(const json_t *j)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) return oom();
    putchar('\n');
    return RC_OK;
}

/* ---------------------------------------------------------------- status */

static bool url_of(struct buf *u, const struct client *cl, const char *path, const char *seg)
{
    size_t n = strlen(cl->server);
    while (n > 0 && cl->server[n - 1] == '/') n--;
    return buf_add(u, cl->server, n) && buf_str(u, path) && buf_segment(u, seg, strlen(seg));
}

int cmd_status(const struct client *cl, const char *upload_id)
{
    struct buf u = {0};
    json_t *st = NULL;
    int rc = url_of(&u, cl, "/zip/status/", upload_id) ? RC_OK : oom();
    if (!rc) rc = get_json(cl, u.data, upload_id, &st);
    if (!rc) rc = print_json_line(st);
    json_decref(st);
    buf_free(&u);
    return rc;
}

/* Polls the job until it ends; prints its last status. */
static int wait_job(const struct client *cl, const struct xfer_opts *o, const char *id)
{
    struct buf u = {0};
    struct progress p;
    int rc = url_of(&u, cl, "/zip/status/", id) ? RC_OK : oom();
    progress_init(&p, o, "processing");
    while (!rc) {
        json_t *st = NULL;
        rc = get_json(cl, u.data, id, &st);
        if (rc) break;
        const char *s = json_string_value(json_object_get(st, "status"));
        if (s && (!strcmp(s, "success") || !strncmp(s, "failed", 6))) {
            if (p.on) fputc('\n', stderr);
            rc = print_json_line(st);
            if (!rc && strcmp(s, "success")) {
                fprintf(stderr, "assetctl: upload %s %s\n", id, s);
                rc = RC_FAIL;
            }
            json_decref(st);
            break;
        }
        if (p.on) {
            json_t *pr = json_object_get(st, "progress");
            fprintf(stderr, "\r%s: %s, %lld of %lld files   ", id, s ? s : "?",
                    (long long)json_integer_value(json_object_get(pr, "files_done")),
                    (long long)json_integer_value(json_object_get(pr, "files_total")));
        }
        json_decref(st);
        usleep(POLL_MS * 1000);
    }
    buf_free(&u);
    return rc;
}

/* ---------------------------------------------------------------- upload */

int cmd_upload(const struct client *cl, const struct xfer_opts *o, const char *path)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct buf u = {0}, body = {0};
    struct progress p;
    struct stat sb;
    long status = 0;
    int rc = RC_OK;
    json_t *ans = NULL;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "assetctl: %s: %s\n", path, errno ? strerror(errno) : "not a file");
        return RC_FAIL;
    }
    size_t n = strlen(cl->server);
    while (n > 0 && cl->server[n - 1] == '/') n--;
    if (!buf_add(&u, cl->server, n) || !buf_str(&u, "/zip/upload")) return oom();
    CURL *h = curl_easy_init();
    curl_mime *mime = h ? curl_mime_init(h) : NULL;
    curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
    struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
    if (!part || !hdr || curl_mime_name(part, "file") || curl_mime_filedata(part, path) ||
        curl_mime_type(part, "application/zip")) {
        rc = oom();
        goto out;
    }
    progress_init(&p, o, "upload");
    common_setup(h, cl, u.data, errbuf);
    curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_upload_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &p);
    CURLcode res = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK) {
        if (p.on) fputc('\n', stderr);
        rc = unreachable(cl, res, errbuf);
        goto out;
    }
    draw(&p, sb.st_size, sb.st_size, true);
    ans = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    const char *id = json_string_value(json_object_get(ans, "upload_id"));
    if (status < 200 || status >= 300 || !id) {
        report(path, status, &body);
        rc = RC_FAIL;
        goto out;
    }
    rc = o->wait ? wait_job(cl, o, id) : print_json_line(ans);
out:
    json_decref(ans);
    curl_slist_free_all(hdr);
    curl_mime_free(mime);
    curl_easy_cleanup(h);
    buf_free(&u);
    buf_free(&body);
    return rc;
}

/* -------------------------------------------------------------- download */

struct dl {
    int fd;
    long status;
    bool decided, failed;
    curl_off_t have; /* bytes of the .part file kept */
    struct buf err;  /* the body of an error answer */
    char etag[256];
    const char *etag_path;
    CURL *h;
};

static size_t dl_header(char *p, size_t size, size_t n, void *cls)
{
    struct dl *d = cls;
    size_t len = size * n, vlen;
    if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
        const char *v = p + 5;
        while (*v == ' ') v++;
        vlen = len - (size_t)(v - p);
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n')) vlen--;
        if (vlen < sizeof d->etag) memcpy(d->etag, v, vlen), d->etag[vlen] = '\0';
    }
    return len;
}

/* On the first body byte: keep the part (206) or start over (200), and
 * note the ETag so an interruption can resume. */
static bool dl_decide(struct dl *d)
{
    d->decided = true;
    curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
    if (d->status != 200 && d->status != 206) {
        d->failed = true;
        return true;
    }
    if (d->status == 200) {
        d->have = 0;
        if (ftruncate(d->fd, 0) != 0) return false;
    }
    if (lseek(d->fd, d->have, SEEK_SET) < 0) return false;
    if (d->etag[0]) {
        FILE *f = fopen(d->etag_path, "w");
        if (!f) return false;
        fputs(d->etag, f);
        if (fclose(f) != 0) return false;
    }
    return true;
}

static size_t dl_body(char *p, size_t size, size_t n, void *cls)
{
    struct dl *d = cls;
    size_t len = size * n, done = 0;
    if (!d->decided && !dl_decide(d)) return 0;
    if (d->failed) return collect(p, size, n, &d->err);
    while (done < len) {
        ssize_t k = write(d->fd, p + done, len - done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return 0;
        done += (size_t)k;
    }
    return len;
}

/* The ETag saved by an interrupted run, or "". */
static void read_etag(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (!f) return;
    if (!fgets(out, (int)cap, f)) out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
}

static int dl_perform(const struct client *cl, const struct xfer_opts *o, struct dl *d,
                      const char *url, const char *what)
{
    char errbuf[CURL_ERROR_SIZE] = "", range[64];
    char saved[256], ifrange[300];
    struct curl_slist *hdr = NULL;
    struct progress p;
    int rc = RC_OK;
    read_etag(d->etag_path, saved, sizeof saved);
    progress_init(&p, o, "download");
    p.base = d->have;
    common_setup(d->h, cl, url, errbuf);
    if (d->have > 0 && saved[0]) {
        snprintf(range, sizeof range, "%lld-", (long long)d->have);
        snprintf(ifrange, sizeof ifrange, "If-Range: %s", saved);
        curl_easy_setopt(d->h, CURLOPT_RANGE, range);
        hdr = curl_slist_append(NULL, ifrange);
        if (!hdr) return oom();
        curl_easy_setopt(d->h, CURLOPT_HTTPHEADER, hdr);
    } else {
        d->have = 0;
        p.base = 0;
    }
    curl_easy_setopt(d->h, CURLOPT_HEADERFUNCTION, dl_header);
    curl_easy_setopt(d->h, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, dl_body);
    curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(d->h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(d->h, CURLOPT_XFERINFOFUNCTION, on_download_progress);
    curl_easy_setopt(d->h, CURLOPT_XFERINFODATA, &p);
    CURLcode res = curl_easy_perform(d->h);
    if (!d->decided) curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
    curl_slist_free_all(hdr);
    if (res != CURLE_OK && !d->failed) {
        if (p.on) fputc('\n', stderr);
        if (res == CURLE_WRITE_ERROR)
            fprintf(stderr, "assetctl: cannot write %s: %s\n", what, strerror(errno));
        return res == CURLE_WRITE_ERROR ? RC_FAIL : unreachable(cl, res, errbuf);
    }
    if (d->failed || (d->status != 200 && d->status != 206)) {
        if (p.on) fputc('\n', stderr);
        return RC_FAIL;
    }
    curl_off_t got = 0;
    curl_easy_getinfo(d->h, CURLINFO_SIZE_DOWNLOAD_T, &got);
    draw(&p, d->have + got, d->have + got, true);
    return rc;
}

int cmd_download(const struct client *cl, const struct xfer_opts *o, const char *id,
                 const char *out_path)
{
    struct buf u = {0}, out = {0}, part = {0}, etag = {0};
    struct dl d = {.fd = -1};
    struct stat sb;
    int rc = RC_OK, attempt;
    if (!url_of(&u, cl, "/zip/download/", id)) return oom();
    if (out_path ? !buf_str(&out, out_path) : !(buf_str(&out, id) && buf_str(&out, ".zip")))
        rc = oom();
    if (!rc && (!buf_str(&part, out.data) || !buf_str(&part, ".part") ||
                !buf_str(&etag, part.data) || !buf_str(&etag, ".etag")))
        rc = oom();
    if (!rc && !out_path && strchr(id, '/')) {
        fprintf(stderr, "assetctl: the id holds '/': name the output with -o FILE\n");
        rc = RC_USAGE;
    }
    if (!rc) {
        d.fd = open(part.data, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (d.fd < 0 || fstat(d.fd, &sb) != 0) {
            fprintf(stderr, "assetctl: cannot open %s: %s\n", part.data, strerror(errno));
            rc = RC_FAIL;
        } else {
            d.have = sb.st_size;
        }
    }
    d.etag_path = etag.data;
    /* a part that is already whole gets 416: start over once */
    for (attempt = 0; !rc && attempt < 2; attempt++) {
        d.h = curl_easy_init();
        if (!d.h) {
            rc = oom();
            break;
        }
        d.decided = d.failed = false;
        d.status = 0;
        d.etag[0] = '\0';
        buf_free(&d.err);
        rc = dl_perform(cl, o, &d, u.data, part.data);
        curl_easy_cleanup(d.h);
        d.h = NULL;
        if (rc == RC_FAIL && d.status == 416 && attempt == 0) {
            d.have = 0;
            unlink(etag.data);
            if (ftruncate(d.fd, 0) == 0) rc = RC_OK;
            continue;
        }
        if (rc == RC_FAIL && d.status >= 400) report(id, d.status, &d.err);
        break;
    }
    if (d.fd >= 0 && close(d.fd) != 0 && !rc) rc = RC_FAIL;
    if (!rc) {
        if (rename(part.data, out.data) != 0) {
            fprintf(stderr, "assetctl: cannot rename %s: %s\n", part.data, strerror(errno));
            rc = RC_FAIL;
        } else {
            unlink(etag.data);
            printf("%s\n", out.data);
        }
    } else if (d.status >= 400 && d.status != 416) {
        unlink(part.data); /* nothing of an error answer is worth keeping */
        unlink(etag.data);
    }
    buf_free(&d.err);
    buf_free(&u);
    buf_free(&out);
    buf_free(&part);
    buf_free(&etag);
    return rc;
}
