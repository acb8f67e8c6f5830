/*
 * test_webhook_answer.c — reading webhook answers without a network
 * (core/webhook_answer.c): the message of a 422 (JSON "message", text,
 * cleaning and cutting), both shapes of a metadata answer and every way it
 * can be malformed, and the U+FFFD conversion of file bytes.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/webhook_answer.h"

static void msg_is(const char *body, size_t cap, const char *want)
{
    char msg[600];
    ad_webhook_answer_message(body, strlen(body), msg, cap);
    CHECK(strcmp(msg, want) == 0, "message of '%s': got '%s', want '%s'", body, msg, want);
}

static void test_message(void)
{
    msg_is("{\"message\": \"heading missing\"}", 600, "heading missing");
    msg_is("{\"message\": \"  spaced\\n\\tout  \"}", 600, "spaced  out");
    msg_is("{\"error\": \"x\"}", 600, "{\"error\": \"x\"}");
    msg_is("{\"message\": 42}", 600, "{\"message\": 42}");
    msg_is("plain words\r\n", 600, "plain words");
    msg_is("bell\a and \x7f del", 600, "bell  and   del");
    msg_is("bad \xff byte", 600, "bad ? byte");
    msg_is("", 600, "");
    msg_is("   \n", 600, "");
    msg_is("abcdef", 4, "abc");
    msg_is("\xc3\xa9\xc3\xa9", 4, "\xc3\xa9"); /* never half a character */
    char one[1];
    ad_webhook_answer_message("x", 1, one, 1);
    CHECK(one[0] == '\0', "cap 1");
    /* \u0000 is refused by the JSON reader: the body is shown as text */
    char msg[64];
    static const char nul[] = "{\"message\": \"a\\u0000b\"}";
    ad_webhook_answer_message(nul, sizeof(nul) - 1, msg, sizeof(msg));
    CHECK(strcmp(msg, nul) == 0, "NUL inside a message: '%s'", msg);
}

static json_t *sent(void)
{
    return json_pack("{s:s, s:s}", "a.md", "A", "dir/b.md", "B");
}

static void meta_ok(const char *body, const char *want_json)
{
    json_t *s = sent(), *out = NULL, *want = json_loads(want_json, 0, NULL);
    char why[200] = "";
    bool ok = ad_webhook_answer_metadata(body, strlen(body), s, &out, why, sizeof(why));
    CHECK(ok && out && json_equal(out, want), "metadata of '%s' (%s)", body, why);
    json_decref(out);
    json_decref(want);
    json_decref(s);
}

static void meta_bad(const char *body, const char *want_why)
{
    json_t *s = sent(), *out = NULL;
    char why[200] = "";
    bool ok = ad_webhook_answer_metadata(body, strlen(body), s, &out, why, sizeof(why));
    CHECK(!ok && !out, "'%s' should be malformed", body);
    CHECK(strstr(why, want_why) != NULL, "why '%s' lacks '%s'", why, want_why);
    json_decref(s);
}

static void test_metadata(void)
{
    meta_ok("{\"data\": [{\"filePath\": \"a.md\", \"metadata\": {\"title\": \"A\"}},"
            " {\"filePath\": \"dir/b.md\", \"metadata\": [1, 2]}]}",
            "{\"a.md\": {\"title\": \"A\"}, \"dir/b.md\": [1, 2]}");
    meta_ok("{\"data\": [{\"filePath\": \"a.md\", \"metadata\": {\"t\": 1}},"
            " {\"filePath\": \"ghost.md\", \"metadata\": {\"t\": 2}},"
            " {\"filePath\": \"dir/b.md\"}, {\"filePath\": \"a.md\", \"metadata\": null}]}",
            "{\"a.md\": {\"t\": 1}}");
    meta_ok("{\"data\": []}", "{}");
    meta_ok("{\"a.md\": {\"x\": true}, \"nope\": 1}", "{\"a.md\": {\"x\": true}}");
    meta_ok("{}", "{}");
    /* "data" next to other keys is the name-map shape */
    meta_ok("{\"data\": [], \"a.md\": 5}", "{\"a.md\": 5}");
    meta_bad("", "not JSON");
    meta_bad("{not json", "not JSON");
    meta_bad("[1]", "not a JSON object");
    meta_bad("\"text\"", "not a JSON object");
    meta_bad("{\"a.md\": 1, \"a.md\": 2}", "not JSON"); /* duplicate keys */
    meta_bad("{\"data\": [1]}", "data[0] is not an object");
    meta_bad("{\"data\": [{\"filePath\": \"a.md\", \"metadata\": {}}, {\"metadata\": {}}]}",
             "data[1].filePath is missing or not a string");
    meta_bad("{\"data\": [{\"filePath\": 7}]}", "data[0].filePath");
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    memcpy(deep, "{\"a\":", 5);
    deep[sizeof(deep) - 1] = '\0';
    meta_bad(deep, "not JSON");
}

static void text_is(const char *in, size_t n, const char *want, size_t want_n)
{
    json_t *j = ad_webhook_text(in, n);
    CHECK(j && json_string_length(j) == want_n && memcmp(json_string_value(j), want, want_n) == 0,
          "text of %zu bytes", n);
    json_decref(j);
}

static void test_text(void)
{
    text_is("plain", 5, "plain", 5);
    text_is("", 0, "", 0);
    text_is("\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9", 5);
    text_is("a\xff"
            "b",
            3,
            "a\xef\xbf\xbd"
            "b",
            5);
    text_is("\xc3", 1, "\xef\xbf\xbd", 3);                                 /* cut sequence */
    text_is("\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9); /* overlong */
    text_is("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9); /* surrogate */
    text_is("a\0b", 3, "a\0b", 3);
    json_t *j = ad_webhook_text(NULL, 0);
    CHECK(j && json_string_length(j) == 0, "NULL is empty");
    json_decref(j);
}

int main(void)
{
    test_message();
    test_metadata();
    test_text();
    return check_summary("webhook_answer");
}
