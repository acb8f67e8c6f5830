/*
 * blob_file.c — the embedded blob store: objects as files under a root
 * directory (file:///var/lib/assetd/blobs).
 *
 * A writer streams into a temporary file in <root>/.tmp, fsyncs it on
 * commit and rename(2)s it into place, then fsyncs the directory that got
 * the new name, so an object is either wholly there or not at all, even
 * across a crash or a power cut; leftovers in .tmp are removed when the
 * store opens.
 *
 * The writer asks the kernel to start writing its bytes to the disk every
 * WB_STEP bytes (sync_file_range) and waits for the step before the last
 * one, instead of leaving every byte dirty until the fsync at commit: the
 * disk then works while the caller hashes and reads the next bytes, the
 * fsync only waits for the last steps, and a writer never has more than
 * about 2 * WB_STEP of dirty pages (a 4 GiB object would otherwise fill
 * the kernel's dirty limit and stall every writer on the machine at once).
 *
 * Buckets (the optional bucket slots) are directories <root>/buckets/NAME,
 * each the root of a store of its own (bucket_open opens it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/blob.h"

extern const ad_blob_ops ad_blob_file_ops;

typedef struct file_blob {
    ad_blob base;
    char *root;
} file_blob;

#define WB_STEP ((uint64_t)8 << 20) /* bytes between two writeback requests */

struct ad_blob_writer {
    file_blob *b;
    int fd;
    uint64_t written; /* bytes written */
    uint64_t kicked;  /* bytes whose writeback was started */
    uint64_t waited;  /* bytes known to be on the disk */
    char tmp[PATH_MAX];
    char final[PATH_MAX];
};

static ad_code io_fail(ad_error *err, const char *what, const char *path)
{
    int e = errno;
    return ad_fail(err, e == ENOSPC || e == EDQUOT ? AD_E_UNAVAILABLE : AD_E_BACKEND,
                   "blob store: %s %s: %s", what, path, strerror(e));
}

/* Creates path and its missing parents; *created (when not NULL) tells
 * whether any was missing. */
static ad_code mkdirs(const char *path, bool *created, ad_error *err)
{
    char buf[PATH_MAX];
    size_t i, n = strlen(path);
    if (n >= sizeof(buf)) return ad_fail(err, AD_E_BAD_REQUEST, "path too long");
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        buf[i] = '\0';
        if (mkdir(buf, 0750) == 0) {
            if (created) *created = true;
        } else if (errno != EEXIST) {
            return io_fail(err, "cannot create", buf);
        }
        if (i < n) buf[i] = '/';
    }
    return AD_OK;
}

static ad_code key_path(file_blob *b, const char *key, char *out, size_t cap, ad_error *err)
{
    ad_code rc = ad_blob_key_check(key, err);
    if (rc) return rc;
    if ((size_t)snprintf(out, cap, "%s/o/%s", b->root, key) >= cap)
        return ad_fail(err, AD_E_BAD_REQUEST, "object key too long for the file system");
    return AD_OK;
}

static void clear_tmp(file_blob *b)
{
    char dir[PATH_MAX], path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    snprintf(dir, sizeof(dir), "%s/.tmp", b->root);
    d = opendir(dir);
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            unlink(path);
    }
    closedir(d);
}

static ad_code file_open(const char *url, ad_blob **out, ad_error *err)
{
    const char *prefix = "file://";
    char tmp[PATH_MAX];
    file_blob *b;
    ad_code rc;
    *out = NULL;
    if (strncmp(url, prefix, strlen(prefix)) != 0 || !url[strlen(prefix)])
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "blob store URL \"%s\": expected file:///absolute/dir or "
                       "file://relative/dir",
                       url);
    b = calloc(1, sizeof(*b));
    if (!b || !(b->root = strdup(url + strlen(prefix)))) {
        free(b);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    b->base.ops = &ad_blob_file_ops;
    snprintf(tmp, sizeof(tmp), "%s/.tmp", b->root);
    rc = mkdirs(tmp, NULL, err);
    if (!rc) {
        snprintf(tmp, sizeof(tmp), "%s/o", b->root);
        rc = mkdirs(tmp, NULL, err);
    }
    if (rc) {
        free(b->root);
        free(b);
        return rc == AD_E_BACKEND ? AD_E_UNAVAILABLE : rc;
    }
    clear_tmp(b);
    *out = &b->base;
    return AD_OK;
}

static void file_close(ad_blob *base)
{
    file_blob *b = (file_blob *)base;
    if (!b) return;
    free(b->root);
    free(b);
}

static ad_code file_ping(ad_blob *base, ad_error *err)
{
    file_blob *b = (file_blob *)base;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/.tmp", b->root);
    if (access(dir, W_OK | X_OK) != 0) {
        io_fail(err, "cannot write in", dir);
        return err ? (err->code = AD_E_UNAVAILABLE) : AD_E_UNAVAILABLE;
    }
    return AD_OK;
}

static ad_code file_writer_open(ad_blob *base, const char *key, ad_blob_writer **out, ad_error *err)
{
    file_blob *b = (file_blob *)base;
    ad_blob_writer *w = calloc(1, sizeof(*w));
    ad_code rc;
    *out = NULL;
    if (!w) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = key_path(b, key, w->final, sizeof(w->final), err);
    if (rc) {
        free(w);
        return rc;
    }
    snprintf(w->tmp, sizeof(w->tmp), "%s/.tmp/w-XXXXXX", b->root);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        rc = io_fail(err, "cannot create", w->tmp);
        free(w);
        return rc;
    }
    w->b = b;
    *out = w;
    return AD_OK;
}

/* Starts writeback of the bytes written since the last call and waits for
 * the range started the time before. Errors are left to the fsync at
 * commit, which reports them. */
static void writeback(ad_blob_writer *w)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (w->written > w->kicked)
        sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->written - w->kicked),
                        SYNC_FILE_RANGE_WRITE);
    if (w->kicked > w->waited &&
        sync_file_range(w->fd, (off_t)w->waited, (off_t)(w->kicked - w->waited),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) == 0)
        posix_fadvise(w->fd, (off_t)w->waited, (off_t)(w->kicked - w->waited), POSIX_FADV_DONTNEED);
    w->waited = w->kicked;
#endif
    w->kicked = w->written;
}

static ad_code file_writer_write(ad_blob_writer *w, const void *p, size_t n, ad_error *err)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return io_fail(err, "cannot write", w->tmp);
        c += k;
        n -= (size_t)k;
        w->written += (uint64_t)k;
    }
    if (w->written - w->kicked >= WB_STEP) writeback(w);
    return AD_OK;
}

static void file_writer_abort(ad_blob_writer *w)
{
    if (!w) return;
    close(w->fd);
    unlink(w->tmp);
    free(w);
}

/* fsyncs a directory, so the names created or renamed in it last. */
static ad_code sync_dir(const char *dir, ad_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ad_code rc = AD_OK;
    if (fd < 0) return io_fail(err, "cannot open", dir);
    if (fsync(fd) != 0) rc = io_fail(err, "cannot sync", dir);
    close(fd);
    return rc;
}

/* fsyncs dir and, when directories were created for it, each parent up
 * to <root>/o, so the path to a new object survives a crash too. */
static ad_code sync_dirs(file_blob *b, char *dir, bool created, ad_error *err)
{
    size_t top = strlen(b->root) + 2; /* "<root>/o" */
    ad_code rc = sync_dir(dir, err);
    while (!rc && created && strlen(dir) > top) {
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = '\0';
        rc = sync_dir(dir, err);
    }
    return rc;
}

static ad_code file_writer_commit(ad_blob_writer *w, ad_error *err)
{
    char dir[PATH_MAX];
    char *slash;
    file_blob *b = w->b;
    bool created = false;
    ad_code rc = AD_OK;
    /* the bytes and the size; the name is made durable by the directory's fsync */
    if (fdatasync(w->fd) != 0) rc = io_fail(err, "cannot sync", w->tmp);
    snprintf(dir, sizeof(dir), "%s", w->final);
    slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (!rc) rc = mkdirs(dir, &created, err);
    if (!rc && rename(w->tmp, w->final) != 0) rc = io_fail(err, "cannot publish", w->final);
    if (rc) {
        file_writer_abort(w);
        return rc;
    }
    close(w->fd);
    free(w);
    return sync_dirs(b, dir, created, err);
}

static ad_code file_stat(ad_blob *base, const char *key, uint64_t *size, ad_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    ad_code rc = key_path((file_blob *)base, key, path, sizeof(path), err);
    if (rc) return rc;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
        return io_fail(err, "cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) return ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
    *size = (uint64_t)st.st_size;
    return AD_OK;
}

static ad_code file_read(ad_blob *base, const char *key, uint64_t off, void *buf, size_t n,
                         size_t *got, ad_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    ssize_t k;
    int fd;
    ad_code rc = key_path((file_blob *)base, key, path, sizeof(path), err);
    *got = 0;
    if (rc) return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
        return io_fail(err, "cannot open", path);
    }
    if (fstat(fd, &st) != 0) {
        rc = io_fail(err, "cannot stat", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
    } else if (off < (uint64_t)st.st_size) {
        do k = pread(fd, buf, n, (off_t)off);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            rc = io_fail(err, "cannot read", path);
        else
            *got = (size_t)k;
    }
    close(fd);
    return rc;
}

static ad_code file_remove(ad_blob *base, const char *key, ad_error *err)
{
    char path[PATH_MAX];
    ad_code rc = key_path((file_blob *)base, key, path, sizeof(path), err);
    if (rc) return rc;
    /* a directory is a key prefix, not an object: nothing to remove */
    if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR && errno != EISDIR)
        return io_fail(err, "cannot remove", path);
    return AD_OK;
}

static ad_code file_open_fd(ad_blob *base, const char *key, int *fd, uint64_t *size,
                            uint64_t *version, ad_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    ad_code rc = key_path((file_blob *)base, key, path, sizeof(path), err);
    *fd = -1;
    if (rc) return rc;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
            return ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
        return io_fail(err, "cannot open", path);
    }
    if (fstat(*fd, &st) != 0)
        rc = io_fail(err, "cannot stat", path);
    else if (!S_ISREG(st.st_mode))
        rc = ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
    if (rc) {
        close(*fd);
        *fd = -1;
        return rc;
    }
    *size = (uint64_t)st.st_size;
    /* objects are replaced by rename(2): a new inode and a new mtime */
    *version = ((uint64_t)st.st_ino << 32) ^ (uint64_t)st.st_mtim.tv_sec * 1000000000u ^
               (uint64_t)st.st_mtim.tv_nsec;
    return AD_OK;
}

static ad_code file_head(ad_blob *base, const char *key, uint64_t *size, uint64_t *version,
                         ad_error *err)
{
    int fd = -1;
    ad_code rc = file_open_fd(base, key, &fd, size, version, err);
    if (fd >= 0) close(fd);
    return rc;
}

/* --- the sequential reader: one open file --- */

struct ad_blob_reader {
    int fd;
    uint64_t pos, end;
};

static ad_code file_reader_open(ad_blob *base, const char *key, uint64_t off, uint64_t len,
                                ad_blob_reader **out, ad_error *err)
{
    uint64_t size = 0, version;
    ad_blob_reader *r = calloc(1, sizeof(*r));
    ad_code rc;
    *out = NULL;
    if (!r) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = file_open_fd(base, key, &r->fd, &size, &version, err);
    if (rc) {
        free(r);
        return rc;
    }
    r->pos = off < size ? off : size;
    r->end = len > size - r->pos ? size : r->pos + len;
    *out = r;
    return AD_OK;
}

static ad_code file_reader_read(ad_blob_reader *r, void *buf, size_t n, size_t *got, ad_error *err)
{
    ssize_t k;
    *got = 0;
    if (r->pos >= r->end || n == 0) return AD_OK;
    if (n > r->end - r->pos) n = (size_t)(r->end - r->pos);
    do k = pread(r->fd, buf, n, (off_t)r->pos);
    while (k < 0 && errno == EINTR);
    if (k < 0) return ad_fail(err, AD_E_BACKEND, "blob store: cannot read: %s", strerror(errno));
    if (k == 0) r->end = r->pos; /* the file was cut while being read */
    r->pos += (uint64_t)k;
    *got = (size_t)k;
    return AD_OK;
}

static void file_reader_close(ad_blob_reader *r)
{
    if (!r) return;
    close(r->fd);
    free(r);
}

/* --- buckets: directories under <root>/buckets --- */

static ad_code bucket_path(file_blob *b, const char *name, char *out, size_t cap, ad_error *err)
{
    ad_code rc = ad_blob_bucket_check(name, err);
    if (rc) return rc;
    if ((size_t)snprintf(out, cap, "%s/buckets/%s", b->root, name) >= cap)
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket path too long for the file system");
    return AD_OK;
}

static ad_code file_bucket_exists(ad_blob *base, const char *name, bool *exists, ad_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    ad_code rc = bucket_path((file_blob *)base, name, path, sizeof(path), err);
    if (rc) return rc;
    if (stat(path, &st) == 0) {
        *exists = S_ISDIR(st.st_mode);
        return AD_OK;
    }
    if (errno != ENOENT) return io_fail(err, "cannot stat", path);
    *exists = false;
    return AD_OK;
}

static ad_code file_bucket_create(ad_blob *base, const char *name, const char *region,
                                  ad_error *err)
{
    file_blob *b = (file_blob *)base;
    char path[PATH_MAX], parent[PATH_MAX];
    ad_code rc = bucket_path(b, name, path, sizeof(path), err);
    (void)region;
    if (rc) return rc;
    snprintf(parent, sizeof(parent), "%s/buckets", b->root);
    if ((rc = mkdirs(parent, NULL, err))) return rc;
    if (mkdir(path, 0750) != 0) {
        if (errno == EEXIST) return ad_fail(err, AD_E_EXISTS, "bucket %s already exists", name);
        return io_fail(err, "cannot create", path);
    }
    return AD_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static int stop_at_object(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)st, (void)ftw;
    return flag == FTW_D || flag == FTW_DP ? 0 : 1;
}

/* Whether the tree under dir holds anything but directories (removing an
 * object can leave its empty parent directories behind). */
static bool dir_has_entries(const char *dir)
{
    return nftw(dir, stop_at_object, 16, FTW_PHYS) == 1;
}

static ad_code file_bucket_remove(ad_blob *base, const char *name, bool force, ad_error *err)
{
    char path[PATH_MAX], objects[PATH_MAX];
    bool exists = false;
    ad_code rc = file_bucket_exists(base, name, &exists, err);
    if (rc) return rc;
    if (!exists) return ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", name);
    bucket_path((file_blob *)base, name, path, sizeof(path), err);
    if ((size_t)snprintf(objects, sizeof(objects), "%s/o", path) >= sizeof(objects))
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket path too long for the file system");
    if (!force && dir_has_entries(objects))
        return ad_fail(err, AD_E_PRECONDITION, "bucket %s is not empty", name);
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return io_fail(err, "cannot remove", path);
    return AD_OK;
}

static ad_code file_bucket_open(ad_blob *base, const char *name, ad_blob **out, ad_error *err)
{
    char path[PATH_MAX], url[PATH_MAX + 8];
    bool exists = false;
    ad_code rc = file_bucket_exists(base, name, &exists, err);
    *out = NULL;
    if (rc) return rc;
    if (!exists) return ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", name);
    bucket_path((file_blob *)base, name, path, sizeof(path), err);
    if ((size_t)snprintf(url, sizeof(url), "file://%s", path) >= sizeof(url))
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket path too long for the file system");
    return file_open(url, out, err);
}

const ad_blob_ops ad_blob_file_ops = {
    .version = AD_BLOB_OPS_VERSION,
    .scheme = "file",
    .open = file_open,
    .close = file_close,
    .ping = file_ping,
    .writer_open = file_writer_open,
    .writer_write = file_writer_write,
    .writer_commit = file_writer_commit,
    .writer_abort = file_writer_abort,
    .stat = file_stat,
    .read = file_read,
    .remove = file_remove,
    .open_fd = file_open_fd,
    .head = file_head,
    .reader_open = file_reader_open,
    .reader_read = file_reader_read,
    .reader_close = file_reader_close,
    .bucket_create = file_bucket_create,
    .bucket_exists = file_bucket_exists,
    .bucket_remove = file_bucket_remove,
    .bucket_open = file_bucket_open,
};
