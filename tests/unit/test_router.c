/*
 * test_router.c — route matching, captures, 404/405 and decoding
 * (http/router.c).
 */
#include <string.h>

#include "check.h"
#include "http/router.h"

static void h(http_req *r)
{
    (void)r;
}

static const http_route routes[] = {
    {"POST", "/assets", h, 0, 0, NULL, 0},   {"GET", "/assets/{}", h, 0, 0, NULL, 0},
    {"PUT", "/assets/{}", h, 0, 0, NULL, 0}, {"GET", "/query/by-api-route/{*}", h, 0, 0, NULL, 0},
    {"GET", "/a/{}/b/{}", h, 0, 0, NULL, 0},
};
#define N (sizeof(routes) / sizeof(routes[0]))

static void expect(const char *method, const char *path, ad_code want, int route,
                   const char *param0, const char *param1)
{
    http_match m;
    ad_error err = {0};
    ad_code rc = http_route_match(routes, N, method, path, &m, &err);
    CHECK(rc == want, "%s %s: code %d, want %d (%s)", method, path, rc, want, err.msg);
    if (rc == AD_OK && route >= 0)
        CHECK(m.route == &routes[route], "%s %s: wrong route", method, path);
    if (rc == AD_OK && param0) CHECK_STR(m.params[0], param0);
    if (rc == AD_OK && param1) CHECK_STR(m.params[1], param1);
    http_match_free(&m);
}

int main(void)
{
    http_match m;
    ad_error err = {0};
    expect("POST", "/assets", AD_OK, 0, NULL, NULL);
    expect("GET", "/assets/abc", AD_OK, 1, "abc", NULL);
    expect("HEAD", "/assets/abc", AD_OK, 1, "abc", NULL);
    expect("PUT", "/assets/a%20b", AD_OK, 2, "a b", NULL);
    expect("GET", "/assets/caf%C3%A9", AD_OK, 1, "caf\xc3\xa9", NULL);
    expect("GET", "/assets/a%2Fb", AD_OK, 1, "a/b", NULL); /* %2F stays in one segment */
    expect("GET", "/assets/", AD_E_NOT_FOUND, -1, NULL, NULL);
    expect("GET", "/assets/a/b", AD_E_NOT_FOUND, -1, NULL, NULL);
    expect("GET", "/assetsx", AD_E_NOT_FOUND, -1, NULL, NULL);
    expect("GET", "/", AD_E_NOT_FOUND, -1, NULL, NULL);
    expect("GET", "/query/by-api-route/api/v1/generate", AD_OK, 3, "api/v1/generate", NULL);
    expect("GET", "/query/by-api-route//api/v1", AD_OK, 3, "/api/v1", NULL);
    expect("GET", "/query/by-api-route/", AD_E_NOT_FOUND, -1, NULL, NULL);
    expect("GET", "/a/1/b/2", AD_OK, 4, "1", "2");
    expect("GET", "/assets/%zz", AD_E_BAD_REQUEST, -1, NULL, NULL);
    expect("GET", "/assets/%ff", AD_E_BAD_REQUEST, -1, NULL, NULL); /* not UTF-8 */
    expect("GET", "/assets/%00", AD_E_BAD_REQUEST, -1, NULL, NULL);

    CHECK(http_route_match(routes, N, "DELETE", "/assets/x", &m, &err) == AD_E_METHOD,
          "DELETE on a known path is 405");
    CHECK_STR(m.allow, "GET, HEAD, PUT");
    http_match_free(&m);
    CHECK(http_route_match(routes, N, "GET", "/assets", &m, &err) == AD_E_METHOD, "GET /assets");
    CHECK_STR(m.allow, "POST");
    http_match_free(&m);
    return check_summary("router");
}
