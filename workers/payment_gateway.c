/* The payment gateway client over libcurl in Stripe's wire format: builds
 * the form, sends it with the order's Idempotency-Key and the Bearer key,
 * and sorts the answer (see payment_gateway.h). The key lives only in the
 * Authorization header built here and is wiped on destroy. */
#include "workers/payment_gateway.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX 65536

struct pgw_client {
    CURL *curl;
    char *url;         /* {base}/v1/payment_intents */
    char *auth_header; /* "Authorization: Bearer sk_..." (secret) */
    size_t auth_len;
    long timeout_ms;
    long connect_timeout_ms;
    char *reply; /* REPLY_MAX + 1 bytes */
    size_t reply_len;
};

static char *format(const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (out)
        snprintf(out, (size_t)n + 1, fmt, a, b);
    return out;
}

struct pgw_client *pgw_client_create(const struct pgw_options *options, struct wr_error *err)
{
    struct pgw_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    size_t base_len = strlen(options->base_url);
    while (base_len > 0 && options->base_url[base_len - 1] == '/')
        base_len--;
    char base[512];
    snprintf(base, sizeof base, "%.*s", (int)base_len, options->base_url);
    c->url = format("%s%s", base, "/v1/payment_intents");
    c->auth_header = format("%s%s", "Authorization: Bearer ", options->api_key);
    c->reply = malloc(REPLY_MAX + 1);
    c->curl = curl_easy_init();
    if (!c->url || !c->auth_header || !c->reply || !c->curl)
        goto fail;
    c->auth_len = strlen(c->auth_header);
    c->timeout_ms = (long)options->timeout_ms;
    c->connect_timeout_ms = (long)options->connect_timeout_ms;
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
    if (client->curl)
        curl_easy_cleanup(client->curl);
    if (client->auth_header)
        explicit_bzero(client->auth_header, client->auth_len);
    free(client->auth_header);
    free(client->url);
    free(client->reply);
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

static size_t collect(char *data, size_t size, size_t count, void *user)
{
    struct pgw_client *c = user;
    size_t n = size * count, room = REPLY_MAX - c->reply_len;
    memcpy(c->reply + c->reply_len, data, n < room ? n : room);
    c->reply_len += n < room ? n : room;
    return n;
}

/* amount=..&currency=..&payment_method=..&confirm=true&metadata[order_id]=.. */
static wr_status build_form(CURL *curl, const struct pgw_charge *charge, char *form, size_t size)
{
    char currency[8];
    size_t cur_len = strlen(charge->currency);
    if (cur_len != 3)
        return WR_ERR_INVALID;
    for (size_t i = 0; i <= cur_len; i++)
        currency[i] = (char)tolower((unsigned char)charge->currency[i]);
    char *method = curl_easy_escape(curl, charge->payment_method, 0);
    if (!method)
        return WR_ERR_NOMEM;
    int n = snprintf(form, size,
                     "amount=%lld&currency=%s&payment_method=%s&confirm=true"
                     "&metadata%%5Border_id%%5D=%s",
                     charge->amount, currency, method, charge->order_id);
    curl_free(method);
    return n > 0 && (size_t)n < size ? WR_OK : WR_ERR_INVALID;
}

/* Performs the POST; on CURLE_OK *http_status holds the answer's status. */
static CURLcode post(struct pgw_client *c, const char *form, const char *idempotency_key,
                     long *http_status, char errbuf[CURL_ERROR_SIZE])
{
    char idem_header[160];
    snprintf(idem_header, sizeof idem_header, "Idempotency-Key: %s", idempotency_key);
    struct curl_slist *headers = NULL, *h;
    const char *lines[] = {c->auth_header, idem_header, "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(h = curl_slist_append(headers, lines[i]))) {
            curl_slist_free_all(headers);
            return CURLE_OUT_OF_MEMORY;
        }
        headers = h;
    }
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    c->reply_len = 0;
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, c->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "warren-payment/" WARREN_VERSION);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(curl);
    *http_status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
    c->reply[c->reply_len] = '\0';
    curl_slist_free_all(headers);
    return rc;
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

/* No answer: a timeout or a connection problem is worth retrying; a URL
 * that libcurl cannot even use is a configuration error. */
static enum pgw_result transport_failure(CURLcode rc, const char *errbuf, struct pgw_outcome *out)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return set(out, PGW_PERMANENT, "payment gateway URL unusable: %s", detail);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return set(out, PGW_TRANSIENT, "payment gateway timed out: %s", detail);
    return set(out, PGW_TRANSIENT, "payment gateway unreachable: %s", detail);
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

static enum pgw_result sort_answer(struct pgw_client *c, long status, struct pgw_outcome *out)
{
    json_t *root = json_loads(c->reply, 0, NULL);
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
    char key[128], form[2048], errbuf[CURL_ERROR_SIZE];
    memset(out, 0, sizeof *out);
    if (pgw_idempotency_key(charge->order_id, key, sizeof key) != WR_OK)
        return set(out, PGW_PERMANENT, "order id unusable in an Idempotency-Key");
    if (charge->amount <= 0 || build_form(client->curl, charge, form, sizeof form) != WR_OK)
        return set(out, PGW_PERMANENT, "charge has a bad amount, currency or token");
    CURLcode rc = post(client, form, key, &out->http_status, errbuf);
    if (rc != CURLE_OK)
        return transport_failure(rc, errbuf, out);
    return sort_answer(client, out->http_status, out);
}
