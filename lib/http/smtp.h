/*
 * smtp.h - sending one plain-text mail through an SMTP server with libcurl (dumperd's email notifications).
 * Part of the engine, not of the agent library. Like http.h's client: CURLOPT_NOSIGNAL, sockets opened
 * close-on-exec, a stop request ends a transfer within 100 ms, TLS verified against the system store or
 * ca_file.
 *
 * smtp://host[:port] requires STARTTLS (CURLUSESSL_ALL: no mail or password ever goes out in clear text);
 * smtps://host[:port] is TLS from the first byte. A user in the URL (smtp://alerts@host:587) logs in with
 * password (never taken from the URL: a URL with a password is refused, it would end up in logs and state).
 * Header values are single lines: CR, LF and other control characters become spaces (no header injection).
 *
 * Threading: any thread; each call uses its own handle.
 */
#ifndef DP_SMTP_H
#define DP_SMTP_H

#include "core/err.h"
#include "core/stop.h"

typedef struct dp_smtp_msg {
    const char *url;          /* smtp://[user@]host[:port] or smtps://... */
    const char *password;     /* for the URL's user; NULL: no login */
    const char *from;         /* envelope and From: address */
    const char *const *to;    /* NULL-terminated recipients (envelope and To:) */
    const char *subject;
    const char *body;         /* text; LF line ends become CRLF */
    const char *ca_file;      /* PEM bundle; NULL: the system store */
    long timeout_ms;          /* whole transfer; 0: 30 s */
    dp_stop *stop;            /* optional */
    int64_t date_s;           /* Date: header (seconds since the epoch); 0: now */
} dp_smtp_msg;

/* 0 when the server accepted the mail; else DUMPER_EUSAGE (a bad URL or address), DUMPER_ECONNECT,
 * DUMPER_ETIMEOUT, DUMPER_EAUTH (login refused, or STARTTLS not offered), DUMPER_EINTR (stopped) or DUMPER_EIO,
 * with err "smtp server 'host:port': <reason>" (never the password). */
int dp_smtp_send(const dp_smtp_msg *m, dp_err *err);

/* The message text (headers and body, CRLF line ends) that dp_smtp_send sends; NULL when out of memory. Pure;
 * the caller frees. */
char *dp_smtp_format(const dp_smtp_msg *m, const char *message_id);

#endif
