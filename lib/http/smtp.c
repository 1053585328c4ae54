/* smtp.c - one mail through SMTP with libcurl (see smtp.h). */
#include "http/smtp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int on_progress(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return p && dp_stop_requested(p) ? 1 : 0;
}

typedef struct {
    const char *p;
    size_t left;
} reader;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    reader *r = ud;
    size_t k = size * n < r->left ? size * n : r->left;
    memcpy(buf, r->p, k);
    r->p += k;
    r->left -= k;
    return k;
}

/* A header value on one line: control characters become spaces. */
static int put_line(dp_buf *b, const char *s)
{
    int bad = 0;
    for (; s && *s; s++) {
        char c = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
        bad |= dp_buf_append(b, &c, 1);
    }
    return bad;
}

char *dp_smtp_format(const dp_smtp_msg *m, const char *message_id)
{
    dp_buf b = {0};
    int bad = 0;
    char date[64];
    time_t t = m->date_s ? (time_t)m->date_s : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    bad |= dp_buf_printf(&b, "Date: %s\r\nFrom: ", date);
    bad |= put_line(&b, m->from);
    bad |= dp_buf_puts(&b, "\r\nTo: ");
    for (int i = 0; m->to && m->to[i]; i++) {
        if (i)
            bad |= dp_buf_puts(&b, ", ");
        bad |= put_line(&b, m->to[i]);
    }
    bad |= dp_buf_puts(&b, "\r\nSubject: ");
    bad |= put_line(&b, m->subject);
    bad |= dp_buf_puts(&b, "\r\nMessage-ID: <");
    bad |= put_line(&b, message_id);
    bad |= dp_buf_puts(&b, ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n");
    for (const char *s = m->body ? m->body : ""; *s; s++) {
        if (*s == '\n' && (s == m->body || s[-1] != '\r'))
            bad |= dp_buf_puts(&b, "\r\n");
        else
            bad |= dp_buf_append(&b, s, 1);
    }
    bad |= dp_buf_puts(&b, "\r\n");
    if (bad) {
        dp_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int addr_ok(const char *a)
{
    if (!a || !*a || strlen(a) > 254 || !strchr(a, '@'))
        return 0;
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',')
            return 0;
    return 1;
}

int dp_smtp_send(const dp_smtp_msg *m, dp_err *err)
{
    pthread_once(&once, global_init);
    int rc = 0;
    char *user = NULL, *pass_in_url = NULL, *host = NULL, *port = NULL, *scheme = NULL, *bare = NULL, *msg = NULL;
    char origin[300] = "?", errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    CURL *c = NULL;
    CURLU *u = curl_url();
    if (!u)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (!m->url || curl_url_set(u, CURLUPART_URL, m->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "smtp") && strcmp(scheme, "smtps"))) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid smtp url (expected smtp://[user@]host[:port] or smtps://...)");
        goto done;
    }
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    snprintf(origin, sizeof origin, "%s:%s", host, port ? port : "?");
    curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
    if (curl_url_get(u, CURLUPART_PASSWORD, &pass_in_url, 0) == CURLUE_OK) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "smtp server '%s': a password in the url is refused (give it apart)",
                        origin);
        goto done;
    }
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    if (curl_url_get(u, CURLUPART_URL, &bare, 0) != CURLUE_OK) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if (!addr_ok(m->from)) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "invalid sender address");
        goto done;
    }
    for (int i = 0; m->to && m->to[i]; i++) {
        char br[300];
        if (!addr_ok(m->to[i])) {
            rc = dp_err_set(err, DUMPER_EUSAGE, "invalid recipient address");
            goto done;
        }
        snprintf(br, sizeof br, "<%s>", m->to[i]);
        struct curl_slist *t = curl_slist_append(rcpt, br);
        if (!t) {
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            goto done;
        }
        rcpt = t;
    }
    if (!rcpt) {
        rc = dp_err_set(err, DUMPER_EUSAGE, "no recipient");
        goto done;
    }
    char mid[96], from[300];
    snprintf(mid, sizeof mid, "%lld.%ld@dumperd", (long long)dp_now_ms(), (long)getpid());
    snprintf(from, sizeof from, "<%s>", m->from);
    if (!(msg = dp_smtp_format(m, mid)) || !(c = curl_easy_init())) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    reader r = {msg, strlen(msg)};
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_URL, bare);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (m->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, m->ca_file);
    if (user && *user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, m->password ? m->password : "");
    }
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &r);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, m->timeout_ms > 0 ? m->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)m->stop);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        int code = cc == CURLE_ABORTED_BY_CALLBACK                                      ? DUMPER_EINTR
                   : cc == CURLE_OPERATION_TIMEDOUT                                     ? DUMPER_ETIMEOUT
                   : cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST    ? DUMPER_ECONNECT
                   : cc == CURLE_LOGIN_DENIED || cc == CURLE_USE_SSL_FAILED ||
                           cc == CURLE_PEER_FAILED_VERIFICATION                         ? DUMPER_EAUTH
                                                                                        : DUMPER_EIO;
        rc = dp_err_set(err, code, "smtp server '%s': %s", origin, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
done:
    if (msg)
        dp_memzero(msg, strlen(msg));
    free(msg);
    curl_easy_cleanup(c);
    curl_slist_free_all(rcpt);
    curl_free(user);
    curl_free(pass_in_url);
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_free(bare);
    curl_url_cleanup(u);
    return rc;
}
