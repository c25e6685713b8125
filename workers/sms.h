/* The SMS client of the notification service: one text message in
 * Twilio's wire format over http_form.h (POST
 * {base}/2010-04-01/Accounts/{sid}/Messages.json, form To, From, Body,
 * HTTP basic auth sid:token). It sorts the answer into sent, transient
 * (5xx, 429, timeout, no connection) or permanent (other 4xx). */
#ifndef WARREN_WORKERS_SMS_H
#define WARREN_WORKERS_SMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct sms_options {
    const char *base_url;       /* http://127.0.0.1:12112 */
    const char *account_sid;    /* AC... (basic auth user) */
    const char *auth_token;     /* secret: never logged nor put in errors */
    const char *from;           /* sender number, E.164 */
    int64_t timeout_ms;         /* whole request */
    int64_t connect_timeout_ms; /* TCP (and TLS) connect */
};

struct sms_client;

/* Copies the options. NULL with err set when out of memory or libcurl
 * cannot start. Free with sms_client_destroy(). One thread at a time; the
 * caller has called hf_global_init(). */
struct sms_client *sms_client_create(const struct sms_options *options, struct wr_error *err);
void sms_client_destroy(struct sms_client *client);

enum sms_result {
    SMS_SENT,      /* 2xx: the gateway took the message */
    SMS_TRANSIENT, /* 5xx, 429, timeout, no connection: try again later */
    SMS_PERMANENT, /* any other 4xx (bad number, bad credentials) */
};

/* Sends body to the number to (E.164). On SMS_SENT, sid (sid_size bytes)
 * holds the gateway's message id; otherwise why says what happened. */
enum sms_result sms_send(struct sms_client *client, const char *to, const char *body, char *sid,
                         size_t sid_size, char *why, size_t why_size);

#endif
