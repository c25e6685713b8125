/* Email over SMTP with libesmtp: builds an RFC 5322 message (headers,
 * quoted-printable UTF-8 body, CRLF lines), runs one session per message
 * and sorts the reply codes (see email.h). The password is handed to
 * libesmtp's AUTH callback only, and wiped on destroy. libesmtp is loaded
 * with dlopen when a client is created, so that only the notification
 * service's workers load it (the same reason as libcurl in http_form.c). */
#include "workers/email.h"

#include <auth-client.h>
#include <dlfcn.h>
#include <libesmtp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workers/dynlib.h"

#define LIBESMTP "libesmtp.so.6"

/* Return type, name, parameters of each libesmtp function called. */
#define ESMTP_FUNCTIONS(X)                                                                         \
    X(void, auth_client_init, (void))                                                              \
    X(void, auth_client_exit, (void))                                                              \
    X(auth_context_t, auth_create_context, (void))                                                 \
    X(int, auth_destroy_context, (auth_context_t context))                                         \
    X(int, auth_set_mechanism_flags, (auth_context_t context, unsigned set, unsigned clear))       \
    X(int, auth_set_interact_cb, (auth_context_t context, auth_interact_t cb, void *arg))          \
    X(smtp_session_t, smtp_create_session, (void))                                                 \
    X(int, smtp_destroy_session, (smtp_session_t session))                                         \
    X(long, smtp_set_timeout, (smtp_session_t session, int which, long value))                     \
    X(int, smtp_set_server, (smtp_session_t session, const char *hostport))                        \
    X(int, smtp_starttls_enable, (smtp_session_t session, enum starttls_option how))               \
    X(int, smtp_auth_set_context, (smtp_session_t session, auth_context_t context))                \
    X(smtp_message_t, smtp_add_message, (smtp_session_t session))                                  \
    X(int, smtp_set_reverse_path, (smtp_message_t message, const char *mailbox))                   \
    X(smtp_recipient_t, smtp_add_recipient, (smtp_message_t message, const char *mailbox))         \
    X(int, smtp_set_messagecb, (smtp_message_t message, smtp_messagecb_t cb, void *arg))           \
    X(int, smtp_start_session, (smtp_session_t session))                                           \
    X(int, smtp_errno, (void))                                                                     \
    X(char *, smtp_strerror, (int error, char buf[], size_t buflen))                               \
    X(const smtp_status_t *, smtp_reverse_path_status, (smtp_message_t message))                   \
    X(const smtp_status_t *, smtp_recipient_status, (smtp_recipient_t recipient))                  \
    X(const smtp_status_t *, smtp_message_transfer_status, (smtp_message_t message))

/* libesmtp's functions, resolved from a handle of dlopen. */
struct esmtp_api {
#define ESMTP_FIELD(ret, name, params) ret(*name) params;
    ESMTP_FUNCTIONS(ESMTP_FIELD)
#undef ESMTP_FIELD
};

static const struct wrk_symbol esmtp_symbols[] = {
#define ESMTP_SYMBOL(ret, name, params) {#name, offsetof(struct esmtp_api, name)},
    ESMTP_FUNCTIONS(ESMTP_SYMBOL)
#undef ESMTP_SYMBOL
};

struct email_client {
    void *lib; /* from wrk_dlopen */
    struct esmtp_api api;
    char *host;
    int port;
    char *from;
    enum email_starttls starttls;
    char *user;     /* NULL: no AUTH */
    char *password; /* secret */
    long timeout_ms;
    auth_context_t auth;
};

static char *copy(const char *text)
{
    return strdup(text ? text : "");
}

struct email_client *email_client_create(const struct email_options *options, struct wr_error *err)
{
    struct wr_error why;
    struct email_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    if (!(c->lib = wrk_dlopen(LIBESMTP, esmtp_symbols,
                              sizeof esmtp_symbols / sizeof esmtp_symbols[0], &c->api, &why))) {
        free(c);
        wr_error_set(err, WR_ERR_CONFIG, "email client: %s", why.message);
        return NULL;
    }
    c->host = copy(options->host);
    c->from = copy(options->from);
    c->port = options->port;
    c->starttls = options->starttls;
    c->timeout_ms = (long)options->timeout_ms;
    if (!c->host || !c->from)
        goto fail;
    if (options->user && options->user[0]) {
        c->user = copy(options->user);
        c->password = copy(options->password);
        if (!c->user || !c->password)
            goto fail;
        c->api.auth_client_init();
        if (!(c->auth = c->api.auth_create_context()))
            goto fail;
    }
    return c;
fail:
    email_client_destroy(c);
    wr_error_set(err, WR_ERR_NOMEM, "email client: out of memory");
    return NULL;
}

void email_client_destroy(struct email_client *client)
{
    if (!client)
        return;
    if (client->auth) {
        client->api.auth_destroy_context(client->auth);
        client->api.auth_client_exit();
    }
    if (client->lib)
        dlclose(client->lib);
    if (client->password)
        explicit_bzero(client->password, strlen(client->password));
    free(client->password);
    free(client->user);
    free(client->from);
    free(client->host);
    free(client);
}

int email_address_ok(const char *address)
{
    size_t len = strlen(address), ats = 0;
    for (const unsigned char *p = (const unsigned char *)address; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == '\\')
            return 0;
        ats += *p == '@';
    }
    const char *at = strchr(address, '@');
    return len > 0 && len <= 254 && ats == 1 && at != address && at[1] != '\0';
}

/* ---- the message ------------------------------------------------------------- */

/* Writes text as quoted-printable (RFC 2045) with CRLF line ends. */
static void write_qp(FILE *out, const char *text)
{
    int column = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n') {
            fputs("\r\n", out);
            column = 0;
            continue;
        }
        bool line_end = p[1] == '\n' || p[1] == '\0';
        bool literal =
            (*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !line_end);
        int width = literal ? 1 : 3;
        if (column + width > 75) {
            fputs("=\r\n", out);
            column = 0;
        }
        if (literal)
            fputc(*p, out);
        else
            fprintf(out, "=%02X", *p);
        column += width;
    }
    if (column > 0)
        fputs("\r\n", out);
}

/* A header value on one line of printable ASCII (anything else becomes '?'). */
static void write_header(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%s: ", name);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        fputc(*p >= 32 && *p < 127 ? *p : '?', out);
    fputs("\r\n", out);
}

/* The whole message as it goes after DATA. Caller frees; NULL if out of memory. */
static char *build_message(const struct email_client *c, const struct email *m, size_t *len)
{
    char *text = NULL, date[64];
    FILE *out = open_memstream(&text, len);
    if (!out)
        return NULL;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    write_header(out, "From", c->from);
    write_header(out, "To", m->to);
    write_header(out, "Subject", m->subject);
    write_header(out, "Date", date);
    fprintf(out, "Message-ID: <%s>\r\n", m->message_id);
    fputs("MIME-Version: 1.0\r\n"
          "Content-Type: text/plain; charset=UTF-8\r\n"
          "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
          out);
    write_qp(out, m->text);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- the session -------------------------------------------------------------- */

struct feed {
    const char *text;
    size_t len;
    bool done;
};

/* libesmtp's message callback: the whole text in one piece (len NULL: rewind). */
static const char *feed_message(void **ctx, int *len, void *arg)
{
    struct feed *f = arg;
    (void)ctx;
    if (!len) {
        f->done = false;
        return NULL;
    }
    *len = f->done ? 0 : (int)f->len;
    const char *chunk = f->done ? NULL : f->text;
    f->done = true;
    return chunk;
}

static int give_credentials(auth_client_request_t request, char **result, int fields, void *arg)
{
    struct email_client *c = arg;
    for (int i = 0; i < fields; i++) {
        if (request[i].flags & AUTH_USER)
            result[i] = c->user;
        else if (request[i].flags & AUTH_PASS)
            result[i] = c->password;
        else
            return 0;
    }
    return 1;
}

static int configure(struct email_client *c, smtp_session_t session)
{
    static const int phases[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA, Timeout_TRANSFER,
                                 Timeout_DATA2};
    static const enum starttls_option tls[] = {Starttls_DISABLED, Starttls_ENABLED,
                                               Starttls_REQUIRED};
    char server[300];
    snprintf(server, sizeof server, "%s:%d", c->host, c->port);
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        c->api.smtp_set_timeout(session, phases[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
                                c->timeout_ms);
    if (!c->api.smtp_set_server(session, server))
        return 0;
    if (c->starttls != EMAIL_STARTTLS_OFF &&
        !c->api.smtp_starttls_enable(session, tls[c->starttls]))
        return 0;
    if (c->auth) {
        c->api.auth_set_mechanism_flags(c->auth, AUTH_PLUGIN_PLAIN, 0);
        c->api.auth_set_interact_cb(c->auth, give_credentials, c);
        if (!c->api.smtp_auth_set_context(session, c->auth))
            return 0;
    }
    return 1;
}

/* A reply code of 400 or more decides; 0 means the step did not happen. */
static int failed_step(const smtp_status_t *status, const char *step, enum email_result *result,
                       char *why, size_t why_size)
{
    if (!status || status->code < 400)
        return 0;
    *result = status->code >= 500 ? EMAIL_PERMANENT : EMAIL_TRANSIENT;
    snprintf(why, why_size, "SMTP %s refused: %d %s", step, status->code,
             status->text ? status->text : "");
    why[strcspn(why, "\r\n")] = '\0';
    return 1;
}

static enum email_result sort_session(struct email_client *c, smtp_message_t message,
                                      smtp_recipient_t recipient, int started, char *why,
                                      size_t why_size)
{
    enum email_result result = EMAIL_TRANSIENT;
    char error[128];
    if (!started) {
        snprintf(why, why_size, "SMTP %s:%d: %s", c->host, c->port,
                 c->api.smtp_strerror(c->api.smtp_errno(), error, sizeof error));
        return EMAIL_TRANSIENT;
    }
    if (failed_step(c->api.smtp_reverse_path_status(message), "sender", &result, why, why_size) ||
        failed_step(c->api.smtp_recipient_status(recipient), "recipient", &result, why, why_size) ||
        failed_step(c->api.smtp_message_transfer_status(message), "message", &result, why,
                    why_size))
        return result;
    const smtp_status_t *status = c->api.smtp_message_transfer_status(message);
    if (status && status->code >= 200 && status->code < 300)
        return EMAIL_SENT;
    snprintf(why, why_size, "SMTP %s:%d: the session ended before the message was accepted",
             c->host, c->port);
    return EMAIL_TRANSIENT;
}

enum email_result email_send(struct email_client *client, const struct email *message, char *why,
                             size_t why_size)
{
    enum email_result result = EMAIL_PERMANENT;
    struct feed feed = {0};
    smtp_session_t session = NULL;
    smtp_message_t msg = NULL;
    smtp_recipient_t rcpt = NULL;
    char *text = NULL;
    snprintf(why, why_size, "the message cannot be built");
    if (!email_address_ok(message->to) || !(text = build_message(client, message, &feed.len)))
        goto out;
    feed.text = text;
    result = EMAIL_TRANSIENT;
    snprintf(why, why_size, "libesmtp could not set up the session");
    if (!(session = client->api.smtp_create_session()) || !configure(client, session) ||
        !(msg = client->api.smtp_add_message(session)) ||
        !client->api.smtp_set_reverse_path(msg, client->from) ||
        !(rcpt = client->api.smtp_add_recipient(msg, message->to)) ||
        !client->api.smtp_set_messagecb(msg, feed_message, &feed))
        goto out;
    int started = client->api.smtp_start_session(session);
    result = sort_session(client, msg, rcpt, started, why, why_size);
out:
    if (session)
        client->api.smtp_destroy_session(session);
    free(text);
    if (result == EMAIL_SENT)
        why[0] = '\0';
    return result;
}
