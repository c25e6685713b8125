/* The payment gateway client: one charge in Stripe's wire format over
 * http_form.h (POST {base}/v1/payment_intents, form-encoded, Bearer key,
 * an Idempotency-Key derived from the order). It sorts every answer into
 * paid, declined (an outcome), transient (retry) or permanent (a
 * configuration error). */
#ifndef WARREN_WORKERS_PAYMENT_GATEWAY_H
#define WARREN_WORKERS_PAYMENT_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct pgw_options {
    const char *base_url;       /* http://127.0.0.1:12111 (no trailing /v1) */
    const char *api_key;        /* sk_...; copied; never logged nor put in errors */
    int64_t timeout_ms;         /* whole request */
    int64_t connect_timeout_ms; /* TCP (and TLS) connect */
};

struct pgw_client;

/* Creates a client (one reused connection; one thread at a time). NULL
 * with err set when out of memory or libcurl cannot start. Free with
 * pgw_client_destroy(). The caller has called hf_global_init(). */
struct pgw_client *pgw_client_create(const struct pgw_options *options, struct wr_error *err);
void pgw_client_destroy(struct pgw_client *client);

/* One charge. Strings are borrowed for the call. */
struct pgw_charge {
    const char *order_id;       /* letters, digits and '-' only (it goes into a header) */
    long long amount;           /* minor units, > 0 */
    const char *currency;       /* ISO 4217, any case: sent lower case */
    const char *payment_method; /* the card token, e.g. pm_card_visa */
};

enum pgw_result {
    PGW_SUCCEEDED, /* 200 and status=succeeded: paid */
    PGW_DECLINED,  /* 402 card error (or an intent that cannot complete): an outcome */
    PGW_TRANSIENT, /* 5xx, 429, 409 (same key in flight), timeout, no connection */
    PGW_PERMANENT, /* any other 4xx, or a request that can never work */
};

struct pgw_outcome {
    enum pgw_result result;
    long http_status;      /* 0 when no answer came */
    char intent_id[128];   /* PGW_SUCCEEDED (and declines that name one) */
    char decline_code[64]; /* PGW_DECLINED: e.g. "generic_decline", "insufficient_funds" */
    char reason[256];      /* readable: the decline or the error (no secrets) */
};

/* The Idempotency-Key of an order's charge: "warren-charge-<order_id>".
 * WR_ERR_INVALID when it does not fit out. */
wr_status pgw_idempotency_key(const char *order_id, char *out, size_t out_size) WR_MUST_CHECK;

/* Sends the charge and fills *out. Sending the same order twice is safe:
 * the gateway answers the same key with the same intent, never a second
 * charge. Returns out->result. */
enum pgw_result pgw_charge(struct pgw_client *client, const struct pgw_charge *charge,
                           struct pgw_outcome *out);

#endif
