/* The email client of the notification service: one plain-text message
 * (UTF-8, quoted-printable) to one recipient through the configured SMTP
 * server with libesmtp, STARTTLS and AUTH only when configured. It sorts
 * the server's answer into sent, transient (4xx, no connection) or
 * permanent (5xx). No libesmtp type leaves email.c. */
#ifndef WARREN_WORKERS_EMAIL_H
#define WARREN_WORKERS_EMAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum email_starttls { EMAIL_STARTTLS_OFF, EMAIL_STARTTLS_ENABLED, EMAIL_STARTTLS_REQUIRED };

struct email_options {
    const char *host;
    int port;
    const char *from; /* envelope and From: address, e.g. orders@shop.example */
    enum email_starttls starttls;
    const char *user;     /* "" or NULL: no AUTH */
    const char *password; /* secret: never logged nor put in errors */
    int64_t timeout_ms;   /* per protocol step */
};

struct email_client;

/* Copies the options. NULL with err set when out of memory. Free with
 * email_client_destroy(). One thread at a time. */
struct email_client *email_client_create(const struct email_options *options, struct wr_error *err);
void email_client_destroy(struct email_client *client);

/* One message; strings borrowed for the call. */
struct email {
    const char *to;         /* one address; no spaces, <, > or control characters */
    const char *subject;    /* one line */
    const char *message_id; /* without angle brackets: "order-1.confirmed@shop.example" */
    const char *text;       /* UTF-8 body, lines ended by \n */
};

enum email_result {
    EMAIL_SENT,      /* the server accepted the message (250 after DATA) */
    EMAIL_TRANSIENT, /* 4xx, no connection, timeout: try again later */
    EMAIL_PERMANENT, /* 5xx or an unusable message: retrying cannot help */
};

/* True when address is usable as a recipient (one '@', printable ASCII
 * or UTF-8, no spaces, angle brackets or control characters, <= 254 bytes). */
int email_address_ok(const char *address);

/* Sends the message in one SMTP session. why (why_size bytes) says what
 * happened when the result is not EMAIL_SENT (the server's reply code and
 * text, or the connection error). */
enum email_result email_send(struct email_client *client, const struct email *message, char *why,
                             size_t why_size);

#endif
