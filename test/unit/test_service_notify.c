/* test_service_notify.c - the pure parts of notification delivery: the webhook signature (server/service/
 * notify.c) against a value computed with Python's hmac, the display of channel URLs (no path, no password),
 * and the mail text of lib/http/smtp.c: CRLF line ends, no header injection through a subject, sender or
 * recipient holding CR/LF, the Date header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/smtp.h"
#include "service/notify.h"

static void test_sign(void **state)
{
    char secret[68] = "ws_", sig[72];
    for (int i = 0; i < 32; i++)
        memcpy(secret + 3 + 2 * i, "ab", 2);
    secret[67] = 0;
    /* python3 -c 'import hmac,hashlib; print(hmac.new(b"ws_"+b"ab"*32, b"1700000000.{\"event\":\"test\"}",
     *   hashlib.sha256).hexdigest())' */
    sd_notify_sign(secret, 1700000000, "{\"event\":\"test\"}", sig);
    assert_string_equal(sig, "sha256=b4d909947cd06030038a630bf6bfde1d8b21ca3d7c8e2e87ddc8575e8011622d");
    sd_notify_sign(secret, 1700000001, "{\"event\":\"test\"}", sig); /* the timestamp is signed */
    assert_string_not_equal(sig, "sha256=b4d909947cd06030038a630bf6bfde1d8b21ca3d7c8e2e87ddc8575e8011622d");
}

static void test_url_display(void **state)
{
    char out[256];
    sd_channel_url_display("https://hooks.slack.com/services/T0/B0/SECRET", out);
    assert_string_equal(out, "https://hooks.slack.com/...");
    sd_channel_url_display("https://ntfy.sh", out);
    assert_string_equal(out, "https://ntfy.sh");
    sd_channel_url_display("smtp://alerts@mail.example.com:587", out);
    assert_string_equal(out, "smtp://alerts@mail.example.com:587");
    sd_channel_url_display("https://u:hunter2@h.example/x?token=abc", out);
    assert_string_equal(out, "https://u:***@h.example/...");
    sd_channel_url_display("https://h.example?token=abc", out);
    assert_string_equal(out, "https://h.example/...");
    sd_channel_url_display("not a url", out);
    assert_string_equal(out, "-");
}

static void test_mail_text(void **state)
{
    const char *to[] = {"ops@example.com", "dba@example.com\r\nBcc: evil@example.com", NULL};
    dp_smtp_msg m = {.from = "dumperd@example.com\nX-Injected: 1", .to = to,
                     .subject = "backup failed\r\nBcc: evil@example.com", .body = "line 1\nline 2\r\n.\nend",
                     .date_s = 1700000000};
    char *t = dp_smtp_format(&m, "1.2@dumperd");
    assert_non_null(t);
    assert_non_null(strstr(t, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(t, "\r\nFrom: dumperd@example.com X-Injected: 1\r\n"));
    assert_non_null(strstr(t, "\r\nTo: ops@example.com, dba@example.com  Bcc: evil@example.com\r\n"));
    assert_non_null(strstr(t, "\r\nSubject: backup failed  Bcc: evil@example.com\r\n"));
    assert_null(strstr(t, "\nBcc:"));
    assert_null(strstr(t, "\nX-Injected"));
    assert_non_null(strstr(t, "\r\nMessage-ID: <1.2@dumperd>\r\n"));
    assert_non_null(strstr(t, "\r\n\r\nline 1\r\nline 2\r\n.\r\nend\r\n"));
    for (const char *p = strchr(t, '\n'); p; p = strchr(p + 1, '\n'))
        assert_int_equal(p[-1], '\r'); /* every line ends with CRLF */
    free(t);
    /* refused before any connection: a bad url, a password in it, bad addresses */
    dp_err err = {0};
    const char *one[] = {"a@example.com", NULL};
    dp_smtp_msg bad = {.url = "http://h/", .from = "a@example.com", .to = one, .subject = "s", .body = "b"};
    assert_int_equal(dp_smtp_send(&bad, &err), DUMPER_EUSAGE);
    assert_string_equal(err.msg, "invalid smtp url (expected smtp://[user@]host[:port] or smtps://...)");
    bad.url = "smtp://u:hunter2@127.0.0.1:1";
    dp_err_clear(&err);
    assert_int_equal(dp_smtp_send(&bad, &err), DUMPER_EUSAGE);
    assert_string_equal(err.msg, "smtp server '127.0.0.1:1': a password in the url is refused (give it apart)");
    bad.url = "smtp://127.0.0.1:1";
    const char *evil[] = {"a@example.com>\r\nRCPT TO:<b@example.com", NULL};
    bad.to = evil;
    dp_err_clear(&err);
    assert_int_equal(dp_smtp_send(&bad, &err), DUMPER_EUSAGE);
    assert_string_equal(err.msg, "invalid recipient address");
    bad.to = one;
    bad.from = "no-at-sign";
    dp_err_clear(&err);
    assert_int_equal(dp_smtp_send(&bad, &err), DUMPER_EUSAGE);
    assert_string_equal(err.msg, "invalid sender address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sign), cmocka_unit_test(test_url_display),
                                       cmocka_unit_test(test_mail_text)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
