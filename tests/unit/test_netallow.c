/*
 * test_netallow.c — the allow list of outgoing requests (core/netallow.c):
 * parsing of entries (addresses, CIDRs, host names, "*", bad ones) and the
 * decision on socket addresses, the default refusals (loopback, private,
 * link-local with 169.254.169.254, ULA, multicast, unspecified) and IPv4
 * addresses carried in IPv6 ones (::ffff:127.0.0.1).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "core/fetch.h"

/* Whether list (NULL: default) lets host reach the literal address addr. */
static bool allowed(const ad_netallow *a, const char *host, const char *addr)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    memset(&v4, 0, sizeof(v4));
    memset(&v6, 0, sizeof(v6));
    if (inet_pton(AF_INET, addr, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        return ad_netallow_check(a, host, &v4, sizeof(v4));
    }
    if (inet_pton(AF_INET6, addr, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        return ad_netallow_check(a, host, &v6, sizeof(v6));
    }
    fprintf(stderr, "test: bad literal %s\n", addr);
    abort();
}

static ad_netallow *parse_ok(const char *spec)
{
    ad_netallow *a = NULL;
    ad_error e = {0};
    ad_code rc = ad_netallow_parse(spec, &a, &e);
    CHECK(rc == AD_OK && a, "parse \"%s\": %s", spec, e.msg);
    return a;
}

static void parse_bad(const char *spec, const char *want_in_msg)
{
    ad_netallow *a = NULL;
    ad_error e = {0};
    ad_code rc = ad_netallow_parse(spec, &a, &e);
    CHECK(rc == AD_E_BAD_REQUEST && !a, "parse \"%s\" should fail", spec);
    CHECK(strstr(e.msg, want_in_msg) != NULL, "message \"%s\" lacks \"%s\"", e.msg, want_in_msg);
    ad_netallow_free(a);
}

static void test_default(void)
{
    ad_netallow *a = parse_ok(""), *b = parse_ok(NULL);
    const ad_netallow *lists[] = {NULL, a, b};
    static const char *refused[] = {
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",
        "::127.0.0.1",
    };
    static const char *ok[] = {"93.184.216.34",   "8.8.8.8",        "172.32.0.1",     "1.1.1.1",
                               "2606:4700::1111", "::ffff:8.8.8.8", "2001:4860::8888"};
    for (size_t l = 0; l < 3; l++) {
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
            CHECK(!allowed(lists[l], "example.com", refused[i]), "default list allowed %s",
                  refused[i]);
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            CHECK(allowed(lists[l], "example.com", ok[i]), "default list refused %s", ok[i]);
    }
    ad_netallow_free(a);
    ad_netallow_free(b);
}

static void test_cidrs(void)
{
    ad_netallow *a = parse_ok("127.0.0.1/32, 10.0.0.0/8 ,::1/128,fd00::/8");
    CHECK(allowed(a, "x", "127.0.0.1"), "127.0.0.1/32");
    CHECK(!allowed(a, "x", "127.0.0.2"), "127.0.0.2 is outside /32");
    CHECK(allowed(a, "x", "::ffff:127.0.0.1"), "mapped 127.0.0.1 matches the v4 entry");
    CHECK(allowed(a, "x", "10.200.3.4"), "10/8");
    CHECK(!allowed(a, "x", "172.16.0.1"), "172.16/12 is not listed");
    CHECK(!allowed(a, "x", "169.254.169.254"), "metadata address still refused");
    CHECK(allowed(a, "x", "::1"), "::1/128");
    CHECK(allowed(a, "x", "fd00::5"), "fd00::/8");
    CHECK(!allowed(a, "x", "fc00::5"), "fc00::5 outside fd00::/8");
    CHECK(allowed(a, "x", "8.8.8.8"), "public stays allowed with a list");
    ad_netallow_free(a);

    a = parse_ok("127.0.0.1,[::1],172.16.0.0/12,192.168.0.0/17");
    CHECK(allowed(a, "x", "127.0.0.1"), "bare address is /32");
    CHECK(!allowed(a, "x", "127.0.0.5"), "bare address is only itself");
    CHECK(allowed(a, "x", "::1"), "[::1]");
    CHECK(allowed(a, "x", "172.20.1.1"), "172.16/12");
    CHECK(allowed(a, "x", "192.168.127.255"), "/17 inside");
    CHECK(!allowed(a, "x", "192.168.128.1"), "/17 outside");
    ad_netallow_free(a);

    a = parse_ok("0.0.0.0/0");
    CHECK(allowed(a, "x", "169.254.169.254"), "0.0.0.0/0 allows every v4 address");
    CHECK(!allowed(a, "x", "::1"), "0.0.0.0/0 does not cover v6 loopback");
    ad_netallow_free(a);
}

static void test_hosts_and_star(void)
{
    ad_netallow *a = parse_ok("Files.Internal.,localhost");
    CHECK(allowed(a, "files.internal", "10.1.1.1"), "named host may reach its private address");
    CHECK(allowed(a, "FILES.internal.", "10.1.1.1"), "case and trailing dot ignored");
    CHECK(!allowed(a, "other.internal", "10.1.1.1"), "another host may not");
    CHECK(!allowed(a, "files.internal.evil", "10.1.1.1"), "no suffix match");
    CHECK(!allowed(a, NULL, "10.1.1.1"), "no host");
    CHECK(allowed(a, "localhost", "127.0.0.1"), "localhost entry");
    ad_netallow_free(a);

    a = parse_ok("*");
    CHECK(allowed(a, "x", "127.0.0.1"), "* allows loopback");
    CHECK(allowed(a, "x", "169.254.169.254"), "* allows everything");
    CHECK(allowed(a, "x", "::1"), "* allows v6 loopback");
    ad_netallow_free(a);

    a = parse_ok(" , ,127.0.0.1/32,");
    CHECK(allowed(a, "x", "127.0.0.1"), "empty items are skipped");
    ad_netallow_free(a);

    /* a unix socket or an odd family is never allowed, not even by "*" */
    a = parse_ok("*");
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    CHECK(!ad_netallow_check(a, "x", &un, sizeof(un)), "AF_UNIX refused");
    struct sockaddr_in shortv4;
    memset(&shortv4, 0, sizeof(shortv4));
    shortv4.sin_family = AF_INET;
    CHECK(!ad_netallow_check(a, "x", &shortv4, 4), "truncated sockaddr refused");
    CHECK(!ad_netallow_check(a, "x", NULL, 0), "NULL address refused");
    ad_netallow_free(a);
}

static void test_bad_entries(void)
{
    parse_bad("127.0.0.1/33", "127.0.0.1/33");
    parse_bad("127.0.0.1/-1", "bad prefix");
    parse_bad("::1/129", "::1/129");
    parse_bad("10.0.0.0/", "bad prefix");
    parse_bad("10.0.0.0/8x", "bad prefix");
    parse_bad("ok.example, 300.1.1.1", "300.1.1.1");
    parse_bad("10.0.0", "10.0.0");
    parse_bad("host:80", "host:80");
    parse_bad("http://x", "http://x");
    parse_bad("a b", "a b");
    parse_bad("-bad.example", "-bad.example");
    parse_bad("bad..example", "bad..example");
    parse_bad("name/24", "not an address");
    parse_bad("[10.0.0.1", "[10.0.0.1");
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    parse_bad(big, "longer than");
    free(big);
}

int main(void)
{
    test_default();
    test_cidrs();
    test_hosts_and_star();
    test_bad_entries();
    return check_summary("netallow");
}
