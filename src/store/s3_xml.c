/*
 * s3_xml.c — reading the few fields assetd needs from S3's XML answers
 * (Error Code/Message, UploadId, list results) and SigV4's URI encoding.
 *
 * Written by hand rather than with an XML library: the answers are flat
 * documents whose fields are leaf elements with unique names at their
 * level, so "the text of the next <Tag>…</Tag>" is all that is needed, and
 * a full parser (libxml2) would add a dependency and an attack surface
 * (entities, DTDs) for nothing. The bytes come from a server and are
 * treated as hostile: every scan is bounded by the length given, values
 * are cut by the caller's capacity (an over-long value is an error, not a
 * truncation), only the five predefined entities and numeric character
 * references are decoded, and nothing recurses.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "store/s3_int.h"

/* Position of needle (k bytes) in [from, n) of s, or n. */
static size_t find(const char *s, size_t n, size_t from, const char *needle, size_t k)
{
    if (k == 0 || n < k) return n;
    for (size_t i = from; i + k <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0) return i;
    return n;
}

/* The next start tag <tag> or <tag attr…> (not <tagX>) at or after from:
 * offset of '<' and, in *body, the offset after its '>'. n when none. A
 * self-closing <tag/> gives *body == the offset after "/>" and *empty. */
static size_t find_open(const char *s, size_t n, size_t from, const char *tag, size_t *body,
                        bool *empty)
{
    size_t k = strlen(tag), i = from;
    while (i < n) {
        size_t lt = find(s, n, i, "<", 1), j;
        if (lt == n) return n;
        j = lt + 1;
        if (j + k <= n && memcmp(s + j, tag, k) == 0 &&
            (j + k < n && (s[j + k] == '>' || s[j + k] == ' ' || s[j + k] == '/' ||
                           s[j + k] == '\t' || s[j + k] == '\r' || s[j + k] == '\n'))) {
            size_t gt = find(s, n, j + k, ">", 1);
            if (gt == n) return n;
            *empty = s[gt - 1] == '/';
            *body = gt + 1;
            return lt;
        }
        i = lt + 1;
    }
    return n;
}

int s3_xml_element(const char *xml, size_t n, size_t *pos, const char *tag, size_t *start,
                   size_t *end)
{
    char close[80];
    size_t body, lt, k;
    bool empty = false;
    if (!xml || *pos >= n) return 0;
    lt = find_open(xml, n, *pos, tag, &body, &empty);
    if (lt == n) return 0;
    if (empty) {
        *start = *end = *pos = body;
        return 1;
    }
    k = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
    if (k >= sizeof(close)) return -1;
    *end = find(xml, n, body, close, k);
    if (*end == n) return -1; /* never closed */
    *start = body;
    *pos = *end + k;
    return 1;
}

/* Appends the UTF-8 encoding of code point cp; false if invalid. */
static bool put_utf8(char *out, size_t cap, size_t *o, unsigned long cp)
{
    unsigned char u[4];
    size_t k;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp, k = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6)), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), k = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (*o + k >= cap) return false;
    memcpy(out + *o, u, k);
    *o += k;
    return true;
}

/* Decodes [p, p + n) into out; false when malformed or too long. */
static bool decode_text(const char *p, size_t n, char *out, size_t cap)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    size_t i = 0, o = 0;
    if (!cap) return false;
    while (i < n) {
        if (p[i] == '<') return false; /* markup inside a leaf: not what we read */
        if (p[i] != '&') {
            if (o + 1 >= cap) return false;
            out[o++] = p[i++];
            continue;
        }
        i++;
        if (i < n && p[i] == '#') {
            unsigned long cp = 0;
            bool hex = i + 1 < n && (p[i + 1] == 'x' || p[i + 1] == 'X');
            int digits = 0;
            i += hex ? 2 : 1;
            while (i < n && p[i] != ';' && digits < 8) {
                char c = p[i];
                int d = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0) return false;
                cp = cp * (hex ? 16 : 10) + (unsigned long)d;
                digits++, i++;
            }
            if (i >= n || p[i] != ';' || !digits || !put_utf8(out, cap, &o, cp)) return false;
            i++;
            continue;
        }
        {
            size_t e;
            for (e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
                size_t k = strlen(ents[e].name);
                if (i + k <= n && memcmp(p + i, ents[e].name, k) == 0) {
                    if (o + 1 >= cap) return false;
                    out[o++] = ents[e].c;
                    i += k;
                    break;
                }
            }
            if (e == sizeof(ents) / sizeof(ents[0])) return false;
        }
    }
    out[o] = '\0';
    return true;
}

int s3_xml_next(const char *xml, size_t n, size_t *pos, const char *tag, char *out, size_t cap)
{
    size_t start, end;
    int r = s3_xml_element(xml, n, pos, tag, &start, &end);
    if (r <= 0) return r;
    /* CDATA sections: S3 does not send them; refuse rather than misread */
    if (end - start >= 9 && memcmp(xml + start, "<![CDATA[", 9) == 0) return -1;
    return decode_text(xml + start, end - start, out, cap) ? 1 : -1;
}

int s3_uri_encode(ad_buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
            if (ad_buf_append(b, s + i, 1)) return -1;
        } else {
            char pct[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (ad_buf_append(b, pct, 3)) return -1;
        }
    }
    return 0;
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;
    if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32) {
        out[0] = '\0';
        return;
    }
    for (i = 0; i < 32; i++) out[2 * i] = hex[md[i] >> 4], out[2 * i + 1] = hex[md[i] & 15];
    out[64] = '\0';
}
