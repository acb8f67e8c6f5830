/*
 * netallow.c — the allow list of outgoing requests (see core/fetch.h):
 * which addresses a source fetch or a webhook call may connect to.
 *
 * Decisions:
 * - The check is made on the socket address curl is about to connect to
 *   (core/outbound.c calls it from CURLOPT_OPENSOCKETFUNCTION), never on
 *   the URL text alone, so a name resolving to 127.0.0.1 or a redirect to
 *   169.254.169.254 is refused like the literal address.
 * - An IPv6 address that carries an IPv4 one (::ffff:a.b.c.d mapped,
 *   ::a.b.c.d compatible, 64:ff9b::a.b.c.d NAT64) is judged as that IPv4
 *   address, so ::ffff:127.0.0.1 is loopback; a v4 CIDR entry matches it.
 * - "Public" means not in any special-purpose block that reaches this host
 *   or its private networks: 0/8, 10/8, 100.64/10 (carrier NAT), 127/8,
 *   169.254/16, 172.16/12, 192.0.0/24, 192.168/16, 198.18/15, 224/4 and
 *   240/4 (with 255.255.255.255); ::, ::1, fc00::/7, fe80::/10, fec0::/10
 *   and ff00::/8. Everything else may be reached by default.
 * - A host-name entry matches the URL's host exactly (case-insensitive, a
 *   trailing dot ignored), whatever it resolves to: naming a host is the
 *   operator trusting it.
 * Written by hand: a few CIDR comparisons; no library in our list does it.
 */
#include "core/fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define NETALLOW_SPEC_MAX    65536
#define NETALLOW_ENTRIES_MAX 1024
#define NETALLOW_HOST_MAX    253

typedef enum { ENT_HOST, ENT_V4, ENT_V6 } ent_kind;

typedef struct ent {
    ent_kind kind;
    unsigned prefix;  /* bits */
    uint8_t addr[16]; /* v4: the first 4 bytes */
    char *host;       /* ENT_HOST, lower case, no trailing dot */
} ent;

struct ad_netallow {
    bool any; /* "*" */
    size_t n;
    ent *e;
};

void ad_netallow_free(ad_netallow *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) free(a->e[i].host);
    free(a->e);
    free(a);
}

/* Whether the first bits of x and y are equal. */
static bool prefix_eq(const uint8_t *x, const uint8_t *y, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(x, y, full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (x[full] & mask) == (y[full] & mask);
}

static bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (!*s || strlen(s) > 3) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

static bool host_name_ok(const char *h)
{
    size_t n = strlen(h);
    bool alpha = false;
    if (n == 0 || n > NETALLOW_HOST_MAX || h[0] == '-' || h[0] == '.') return false;
    for (const char *p = h; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalpha(c))
            alpha = true;
        else if (!isdigit(c) && c != '-' && c != '.' && c != '_')
            return false;
        if (c == '.' && p[1] == '.') return false;
    }
    /* only digits and dots: a malformed address, not a name */
    return alpha;
}

/* One entry, already trimmed: fills *e or says why not. */
static ad_code parse_entry(char *s, ent *e, ad_error *err)
{
    char *slash = strchr(s, '/');
    char *addr = s;
    size_t n;
    memset(e, 0, sizeof(*e));
    if (slash) *slash = '\0';
    n = strlen(addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') { /* [::1] */
        addr[n - 1] = '\0';
        addr++;
    }
    if (inet_pton(AF_INET, addr, e->addr) == 1) {
        e->kind = ENT_V4;
        e->prefix = 32;
        if (slash && !parse_prefix(slash + 1, 32, &e->prefix)) goto bad_prefix;
        return AD_OK;
    }
    if (inet_pton(AF_INET6, addr, e->addr) == 1) {
        e->kind = ENT_V6;
        e->prefix = 128;
        if (slash && !parse_prefix(slash + 1, 128, &e->prefix)) goto bad_prefix;
        return AD_OK;
    }
    if (slash || addr != s) {
        if (slash) *slash = '/';
        return ad_fail(err, AD_E_BAD_REQUEST, "allow list entry \"%.200s\": not an address", s);
    }
    if (!host_name_ok(s))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "allow list entry \"%.200s\": not a host name, address, CIDR or \"*\"", s);
    n = strlen(s);
    if (s[n - 1] == '.') s[n - 1] = '\0';
    for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
    e->kind = ENT_HOST;
    e->host = strdup(s);
    if (!e->host) return ad_fail(err, AD_E_NOMEM, "out of memory");
    return AD_OK;
bad_prefix:
    *slash = '/';
    return ad_fail(err, AD_E_BAD_REQUEST, "allow list entry \"%.200s\": bad prefix length", s);
}

ad_code ad_netallow_parse(const char *spec, ad_netallow **out, ad_error *err)
{
    ad_netallow *a;
    char *copy, *save = NULL;
    ad_code rc = AD_OK;
    *out = NULL;
    if (spec && strlen(spec) > NETALLOW_SPEC_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "allow list longer than %d bytes", NETALLOW_SPEC_MAX);
    a = calloc(1, sizeof(*a));
    copy = strdup(spec ? spec : "");
    if (!a || !copy) {
        free(a);
        free(copy);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        while (isspace((unsigned char)*tok)) tok++;
        end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1])) *--end = '\0';
        if (!*tok) continue; /* "a,,b" and a trailing comma */
        if (strcmp(tok, "*") == 0) {
            a->any = true;
            continue;
        }
        if (a->n == NETALLOW_ENTRIES_MAX) {
            rc = ad_fail(err, AD_E_BAD_REQUEST, "allow list has more than %d entries",
                         NETALLOW_ENTRIES_MAX);
            break;
        }
        if (a->n % 16 == 0) {
            ent *grown = realloc(a->e, (a->n + 16) * sizeof(*grown));
            if (!grown) {
                rc = ad_fail(err, AD_E_NOMEM, "out of memory");
                break;
            }
            a->e = grown;
        }
        if ((rc = parse_entry(tok, &a->e[a->n], err)) != AD_OK) break;
        a->n++;
    }
    free(copy);
    if (rc != AD_OK) {
        ad_netallow_free(a);
        return rc;
    }
    *out = a;
    return AD_OK;
}

/* The IPv4 address an IPv6 one carries, if any (mapped, compatible, NAT64). */
static bool v6_embedded_v4(const uint8_t *a6, uint8_t *v4)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t compat[12] = {0};
    static const uint8_t nat64[12] = {0, 0x64, 0xFF, 0x9B};
    if (memcmp(a6, mapped, 12) == 0 || memcmp(a6, nat64, 12) == 0 ||
        (memcmp(a6, compat, 12) == 0 && (a6[12] | a6[13] | a6[14] | a6[15]) != 0 &&
         !(a6[12] == 0 && a6[13] == 0 && a6[14] == 0 && a6[15] == 1))) {
        memcpy(v4, a6 + 12, 4);
        return true;
    }
    return false;
}

static bool v4_public(const uint8_t *a)
{
    static const struct {
        uint8_t net[4];
        unsigned bits;
    } special[] = {
        {{0, 0, 0, 0}, 8},    {{10, 0, 0, 0}, 8},     {{100, 64, 0, 0}, 10},
        {{127, 0, 0, 0}, 8},  {{169, 254, 0, 0}, 16}, {{172, 16, 0, 0}, 12},
        {{192, 0, 0, 0}, 24}, {{192, 168, 0, 0}, 16}, {{198, 18, 0, 0}, 15},
        {{224, 0, 0, 0}, 4},  {{240, 0, 0, 0}, 4},
    };
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (prefix_eq(a, special[i].net, special[i].bits)) return false;
    return true;
}

static bool v6_public(const uint8_t *a)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (memcmp(a, zero, 16) == 0 || memcmp(a, loop, 16) == 0) return false;
    if ((a[0] & 0xFE) == 0xFC) return false;                 /* fc00::/7 unique local */
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) return false; /* fe80::/10 link-local */
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) return false; /* fec0::/10 site-local */
    if (a[0] == 0xFF) return false;                          /* multicast */
    return true;
}

static bool host_eq(const char *entry, const char *host)
{
    size_t n = strlen(host);
    if (n && host[n - 1] == '.') n--;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* an IPv6 literal host */
        host++;
        n -= 2;
    }
    return strlen(entry) == n && strncasecmp(entry, host, n) == 0;
}

bool ad_netallow_check(const ad_netallow *a, const char *host, const void *sockaddr, size_t addrlen)
{
    const struct sockaddr *sa = sockaddr;
    uint8_t v4[4], v6[16];
    bool is_v4 = false, is_v6 = false;
    if (!sa || addrlen < sizeof(sa->sa_family)) return false;
    if (sa->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) {
        memcpy(v4, &((const struct sockaddr_in *)sockaddr)->sin_addr, 4);
        is_v4 = true;
    } else if (sa->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6)) {
        memcpy(v6, &((const struct sockaddr_in6 *)sockaddr)->sin6_addr, 16);
        is_v6 = true;
        is_v4 = v6_embedded_v4(v6, v4);
    } else {
        return false; /* unix sockets and the rest: never */
    }
    if (a) {
        if (a->any) return true;
        for (size_t i = 0; i < a->n; i++) {
            const ent *e = &a->e[i];
            if (e->kind == ENT_HOST && host && host_eq(e->host, host)) return true;
            if (e->kind == ENT_V4 && is_v4 && prefix_eq(v4, e->addr, e->prefix)) return true;
            if (e->kind == ENT_V6 && is_v6 && prefix_eq(v6, e->addr, e->prefix)) return true;
        }
    }
    if (is_v4) return v4_public(v4);
    return v6_public(v6);
}
