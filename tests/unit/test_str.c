/*
 * test_str.c — util/str.c: ad_url_redact, which keeps credentials in store
 * URLs (a PostgreSQL password, S3 keys) out of logs and messages.
 */
#include <string.h>

#include "check.h"
#include "util/str.h"

static void redacts(const char *url, const char *want)
{
    char out[256];
    ad_url_redact(url, out, sizeof(out));
    CHECK(strcmp(out, want) == 0, "%s: got %s, want %s", url, out, want);
}

int main(void)
{
    char small[12];
    redacts("postgresql://assetd:s3cret@db.example:5432/reg?schema=x",
            "postgresql://assetd:***@db.example:5432/reg?schema=x");
    redacts("postgresql://assetd@127.0.0.1:5432/reg", "postgresql://assetd@127.0.0.1:5432/reg");
    redacts("postgres://u:p%40ss@h/d", "postgres://u:***@h/d");
    redacts("postgresql://u:a@b@h/d?sslmode=require", "postgresql://u:***@h/d?sslmode=require");
    redacts("postgresql:///reg?host=/run/pg&password=hunter2&user=a",
            "postgresql:///reg?host=/run/pg&password=***&user=a");
    redacts("s3://127.0.0.1:7480/bucket?access_key=AK&secret_key=SK&region=us",
            "s3://127.0.0.1:7480/bucket?access_key=***&secret_key=***&region=us");
    redacts("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0");
    redacts("redis://127.0.0.1:6379/0?Token=x#frag", "redis://127.0.0.1:6379/0?Token=***#frag");
    redacts("sqlite:///var/lib/assetd/registry.db", "sqlite:///var/lib/assetd/registry.db");
    redacts("file:///a@b:c/blobs", "file:///a@b:c/blobs");
    redacts("memory:", "memory:");
    redacts("", "");
    ad_url_redact("postgresql://user:password@host/db", small, sizeof(small));
    CHECK(strlen(small) == sizeof(small) - 1 && !strstr(small, "password"), "cut to the buffer: %s",
          small);
    return check_summary("test_str");
}
