/*
 * table.c — assetctl's table output: one row per asset, the columns
 * ASSET_ID, VERSION, TYPE, SUB_TYPE, TAGS, FILES and DESCRIPTION aligned on
 * their widest cell (counted in UTF-8 characters); a missing value is "-".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/assetctl.h"

#define DESC_MAX 40 /* DESCRIPTION width, in characters */

enum column { COL_ID, COL_VERSION, COL_TYPE, COL_SUB_TYPE, COL_TAGS, COL_FILES, COL_DESC, N_COLS };
static const char *const column_names[N_COLS] = {"ASSET_ID", "VERSION", "TYPE",       "SUB_TYPE",
                                                 "TAGS",     "FILES",   "DESCRIPTION"};

/* Characters (UTF-8 code points) in s. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Appends s with control characters as spaces, cut to max characters
 * (ending in "...") when longer. */
static bool cell_text(struct buf *b, const char *s, size_t len, size_t max)
{
    size_t chars = 0, keep = max;
    for (size_t i = 0; i < len; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (chars > max) keep = max - 3;
    chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xC0) != 0x80 && chars++ == keep) break;
        if (!buf_char(b, ch < 0x20 || ch == 0x7f ? ' ' : (char)ch)) return false;
    }
    return chars <= keep || buf_str(b, "...");
}

/* Appends a string member of obj, or nothing when it is not a string. */
static bool cell_member(struct buf *b, const json_t *obj, const char *key, size_t max)
{
    const json_t *v = json_object_get(obj, key);
    return !json_is_string(v) || cell_text(b, json_string_value(v), json_string_length(v), max);
}

/* Appends tag to b after a comma unless seen (a JSON array) holds it. */
static bool add_tag(struct buf *b, json_t *seen, const json_t *tag)
{
    for (size_t i = 0; i < json_array_size(seen); i++)
        if (json_equal(json_array_get(seen, i), tag)) return true;
    if (json_array_append(seen, (json_t *)tag)) return false; /* takes a reference */
    return (!b->len || buf_char(b, ',')) &&
           cell_text(b, json_string_value(tag), json_string_length(tag), SIZE_MAX);
}

/* Appends the tags of every profile, comma-joined, each once. */
static bool cell_tags(struct buf *b, const json_t *profiles)
{
    json_t *seen = json_array();
    bool ok = seen != NULL;
    for (size_t i = 0; ok && i < json_array_size(profiles); i++) {
        const json_t *tags = json_object_get(json_array_get(profiles, i), "asset_tags");
        for (size_t j = 0; ok && j < json_array_size(tags); j++) {
            const json_t *tag = json_array_get(tags, j);
            if (json_is_string(tag)) ok = add_tag(b, seen, tag);
        }
    }
    json_decref(seen);
    return ok;
}

static bool cell_files(struct buf *b, const json_t *files)
{
    char n[32];
    if (!json_is_array(files)) return true;
    snprintf(n, sizeof n, "%zu", json_array_size(files));
    return buf_str(b, n);
}

/* Fills one column of an asset's row into b (empty: shown as "-"). */
static bool asset_cell(struct buf *b, const json_t *asset, enum column col)
{
    const json_t *profiles = json_object_get(asset, "profiles");
    const json_t *first = json_array_get(profiles, 0);
    switch (col) {
    case COL_ID:
        return cell_member(b, asset, "asset_id", SIZE_MAX);
    case COL_VERSION:
        return cell_member(b, asset, "asset_version", SIZE_MAX);
    case COL_TYPE:
        return cell_member(b, first, "asset_type", SIZE_MAX);
    case COL_SUB_TYPE:
        return cell_member(b, first, "asset_sub_type", SIZE_MAX);
    case COL_TAGS:
        return cell_tags(b, profiles);
    case COL_FILES:
        return cell_files(b, json_object_get(asset, "files"));
    case COL_DESC:
        return cell_member(b, asset, "asset_brief_description", DESC_MAX);
    default:
        return true;
    }
}

/* Fills cells[N_COLS] for asset; the caller frees them. */
static bool asset_row(const json_t *asset, char **cells)
{
    for (int col = 0; col < N_COLS; col++) {
        struct buf b = {0};
        if (!asset_cell(&b, asset, (enum column)col) || (!b.len && !buf_str(&b, "-")) ||
            !(cells[col] = buf_take(&b))) {
            buf_free(&b);
            return false;
        }
    }
    return true;
}

static void print_row(const char *const *cells, const size_t *widths)
{
    for (int col = 0; col < N_COLS; col++) {
        fputs(cells[col], stdout);
        if (col == N_COLS - 1) break;
        for (size_t w = text_width(cells[col]); w < widths[col] + 2; w++) putchar(' ');
    }
    putchar('\n');
}

int print_table(const json_t *data)
{
    size_t rows = json_is_array(data) ? json_array_size(data) : 1, widths[N_COLS];
    char **cells = calloc(rows * N_COLS + 1, sizeof *cells);
    if (!cells) return oom();
    bool ok = true;
    for (size_t r = 0; r < rows && ok; r++)
        ok = asset_row(json_is_array(data) ? json_array_get(data, r) : data, cells + r * N_COLS);
    if (ok) {
        for (int col = 0; col < N_COLS; col++) {
            widths[col] = text_width(column_names[col]);
            for (size_t r = 0; r < rows; r++) {
                size_t w = text_width(cells[r * N_COLS + col]);
                if (w > widths[col]) widths[col] = w;
            }
        }
        print_row(column_names, widths);
        for (size_t r = 0; r < rows; r++)
            print_row((const char *const *)cells + r * N_COLS, widths);
    }
    for (size_t i = 0; i < rows * N_COLS; i++) free(cells[i]);
    free(cells);
    return ok ? RC_OK : oom();
}
