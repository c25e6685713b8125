/* The payment gateway client in Stripe's wire format: builds the form,
 * sends it through http_form.c with the order's Idempotency-Key and the
 * Bearer key, and sorts the answer (see payment_gateway.h). The key lives
 * only in the Authorization header built here and is wiped on destroy. */
#include "workers/payment_gateway.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http_form.h"

#define FORM_MAX 2048 /* a longer charge is refused, never sent */

struct pgw_client {
    struct hf_client *http;
    char *url;         /* {base}/v1/payment_intents */
    char *auth_header; /* "Authorization: Bearer sk_..." (secret) */
    size_t auth_len;
};

struct pgw_client *pgw_client_create(const struct pgw_options *options, struct wr_error *err)
{
    struct hf_options http = {.user_agent = "warren-payment/" WARREN_VERSION,
                              .timeout_ms = options->timeout_ms,
                              .connect_timeout_ms = options->connect_timeout_ms};
    struct pgw_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->url = hf_url(options->base_url, "/v1/payment_intents");
    c->auth_len = strlen("Authorization: Bearer ") + strlen(options->api_key);
    if ((c->auth_header = malloc(c->auth_len + 1)))
        snprintf(c->auth_header, c->auth_len + 1, "Authorization: Bearer %s", options->api_key);
    c->http = hf_client_create(&http, err);
    if (!c->url || !c->auth_header || !c->http)
        goto fail;
    return c;
fail:
    pgw_client_destroy(c);
    wr_error_set(err, WR_ERR_NOMEM, "payment gateway client: out of memory or libcurl failed");
    return NULL;
}

void pgw_client_destroy(struct pgw_client *client)
{
    if (!client)
        return;
    hf_client_destroy(client->http);
    if (client->auth_header)
        explicit_bzero(client->auth_header, client->auth_len);
    free(client->auth_header);
    free(client->url);
    free(client);
}

wr_status pgw_idempotency_key(const char *order_id, char *out, size_t out_size)
{
    size_t len = strlen(order_id);
    if (len == 0 || len > 64)
        return WR_ERR_INVALID;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)order_id[i]) && order_id[i] != '-')
            return WR_ERR_INVALID;
    int n = snprintf(out, out_size, "warren-charge-%s", order_id);
    return n > 0 && (size_t)n < out_size ? WR_OK : WR_ERR_INVALID;
}

/* ---- the request ------------------------------------------------------------ */

/* amount=..&currency=..&payment_method=..&confirm=true&metadata[order_id]=..
 * (caller frees); NULL when the charge cannot be sent. */
static char *build_form(struct hf_client *http, const struct pgw_charge *charge)
{
    char amount[32], currency[4];
    if (charge->amount <= 0 || strlen(charge->currency) != 3)
        return NULL;
    for (size_t i = 0; i < sizeof currency; i++)
        currency[i] = (char)tolower((unsigned char)charge->currency[i]);
    snprintf(amount, sizeof amount, "%lld", charge->amount);
    const struct hf_field fields[] = {{"amount", amount},
                                      {"currency", currency},
                                      {"payment_method", charge->payment_method},
                                      {"confirm", "true"},
                                      {"metadata%5Border_id%5D", charge->order_id}};
    char *form = hf_form_encode(http, fields, sizeof fields / sizeof fields[0]);
    if (form && strlen(form) >= FORM_MAX) {
        free(form);
        form = NULL;
    }
    return form;
}

/* POSTs form with the Bearer key and the charge's Idempotency-Key. */
static wr_status post(struct pgw_client *c, const char *form, const char *idempotency_key,
                      struct hf_answer *answer, struct wr_error *err)
{
    char idem_header[160];
    snprintf(idem_header, sizeof idem_header, "Idempotency-Key: %s", idempotency_key);
    const char *const headers[] = {c->auth_header, idem_header, NULL};
    struct hf_request request = {.url = c->url, .form = form, .headers = headers};
    return hf_post_form(c->http, &request, answer, err);
}

/* ---- sorting the answer ------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static enum pgw_result
set(struct pgw_outcome *out, enum pgw_result result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->result = result;
    return result;
}

static void copy_str(char *dst, size_t size, json_t *value)
{
    const char *text = json_string_value(value);
    snprintf(dst, size, "%s", text ? text : "");
}

/* 200: the intent's status says paid, declined or not final yet. */
static enum pgw_result intent_answer(json_t *intent, struct pgw_outcome *out)
{
    const char *status = json_string_value(json_object_get(intent, "status"));
    copy_str(out->intent_id, sizeof out->intent_id, json_object_get(intent, "id"));
    if (!status || !out->intent_id[0])
        return set(out, PGW_TRANSIENT, "payment gateway answered 200 without an intent");
    if (strcmp(status, "succeeded") == 0)
        return set(out, PGW_SUCCEEDED, "paid (%s)", out->intent_id);
    if (strcmp(status, "requires_action") == 0) {
        snprintf(out->decline_code, sizeof out->decline_code, "authentication_required");
        return set(out, PGW_DECLINED, "the card requires authentication");
    }
    if (strcmp(status, "requires_payment_method") == 0 || strcmp(status, "canceled") == 0) {
        snprintf(out->decline_code, sizeof out->decline_code, "%s", status);
        return set(out, PGW_DECLINED, "the payment did not complete (%s)", status);
    }
    return set(out, PGW_TRANSIENT, "payment intent %s is still %s", out->intent_id, status);
}

/* 402: a card error, the customer's problem and the saga's outcome. */
static enum pgw_result decline_answer(json_t *error, struct pgw_outcome *out)
{
    json_t *code = json_object_get(error, "decline_code");
    copy_str(out->decline_code, sizeof out->decline_code,
             json_is_string(code) ? code : json_object_get(error, "code"));
    if (!out->decline_code[0])
        snprintf(out->decline_code, sizeof out->decline_code, "card_declined");
    copy_str(out->intent_id, sizeof out->intent_id,
             json_object_get(json_object_get(error, "payment_intent"), "id"));
    const char *message = json_string_value(json_object_get(error, "message"));
    return set(out, PGW_DECLINED, "%s", message ? message : "the card was declined");
}

static enum pgw_result error_answer(long status, json_t *error, struct pgw_outcome *out)
{
    const char *type = json_string_value(json_object_get(error, "type"));
    const char *message = json_string_value(json_object_get(error, "message"));
    char what[200];
    snprintf(what, sizeof what, "HTTP %ld%s%s", status, type ? " " : "", type ? type : "");
    enum pgw_result kind =
        status >= 500 || status == 429 || status == 409 ? PGW_TRANSIENT : PGW_PERMANENT;
    return set(out, kind, "payment gateway answered %s: %s", what,
               message ? message : "(no message)");
}

static enum pgw_result sort_answer(const char *body, long status, struct pgw_outcome *out)
{
    json_t *root = json_loads(body, 0, NULL);
    json_t *error = json_object_get(root, "error");
    enum pgw_result result;
    if (status == 200)
        result = intent_answer(root, out);
    else if (status == 402)
        result = decline_answer(error, out);
    else
        result = error_answer(status, error, out);
    json_decref(root);
    return result;
}

enum pgw_result pgw_charge(struct pgw_client *client, const struct pgw_charge *charge,
                           struct pgw_outcome *out)
{
    char key[128];
    struct hf_answer answer;
    struct wr_error err;
    memset(out, 0, sizeof *out);
    if (pgw_idempotency_key(charge->order_id, key, sizeof key) != WR_OK)
        return set(out, PGW_PERMANENT, "order id unusable in an Idempotency-Key");
    char *form = build_form(client->http, charge);
    if (!form)
        return set(out, PGW_PERMANENT, "charge has a bad amount, currency or token");
    wr_status status = post(client, form, key, &answer, &err);
    free(form);
    out->http_status = answer.status;
    if (status != WR_OK)
        return set(out, hf_transient(status) ? PGW_TRANSIENT : PGW_PERMANENT, "payment gateway %s",
                   err.message);
    return sort_answer(answer.body, answer.status, out);
}
