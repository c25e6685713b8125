/* The payment service: charges an order's total through the payment
 * gateway (payment_gateway.c) and answers payment.succeeded or
 * payment.failed. A decline is an outcome; a timeout, 5xx or 429 is a
 * retry (a downstream failure: many in a row put the worker in outage
 * mode); any other 4xx is a configuration error, dead-lettered at once.
 * Every charge is recorded in the service's own table, in the step's
 * transaction, and the gateway's Idempotency-Key makes a redelivery safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "workers/http_form.h"
#include "workers/internal.h"
#include "workers/payment_gateway.h"
#include "workers/services.h"

static const struct db_migration payment_migrations[] = {
    {1, "CREATE TABLE charges ("
        " order_id text PRIMARY KEY,"
        " idempotency_key text NOT NULL,"
        " intent_id text,"
        " amount bigint NOT NULL,"
        " currency text NOT NULL,"
        " status text NOT NULL CHECK (status IN ('succeeded', 'declined')),"
        " decline_code text,"
        " reason text,"
        " attempt integer NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now());"},
};

struct payment {
    struct pgw_client *gateway;
};

static wr_status payment_init(const struct wrk_env *env, void **state, struct wr_error *err)
{
    const struct cfg *cfg = env->cfg;
    struct pgw_options options = {
        .base_url = cfg_str(cfg, CFG_PAYMENT_GATEWAY_URL),
        .api_key = cfg_str(cfg, CFG_PAYMENT_API_KEY),
        .timeout_ms = cfg_int(cfg, CFG_PAYMENT_TIMEOUT),
        .connect_timeout_ms = cfg_int(cfg, CFG_PAYMENT_CONNECT_TIMEOUT),
    };
    if (!options.api_key[0])
        return wr_error_set(err, WR_ERR_CONFIG, "payment.api_key is not set");
    struct payment *p = calloc(1, sizeof *p);
    if (!p)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    if (hf_global_init(err) != WR_OK) {
        free(p);
        return err->code;
    }
    if (!(p->gateway = pgw_client_create(&options, err))) {
        hf_global_cleanup();
        free(p);
        return err->code;
    }
    char shown[512];
    wr_redact_url(options.base_url, shown, sizeof shown);
    wr_log(WR_LOG_INFO, "payment", "payment gateway %s (timeout %lld ms)", shown,
           (long long)options.timeout_ms);
    *state = p;
    return WR_OK;
}

static void payment_fini(void *state)
{
    struct payment *p = state;
    pgw_client_destroy(p->gateway);
    hf_global_cleanup();
    free(p);
}

/* Reads payment.charge's body into charge (strings borrowed from msg). */
static bool read_charge(const struct wrk_message *msg, struct pgw_charge *charge)
{
    json_t *amount = json_object_get(msg->body, "amount");
    charge->order_id = msg->order_id;
    charge->amount = json_is_integer(amount) ? (long long)json_integer_value(amount) : 0;
    charge->currency = json_string_value(json_object_get(msg->body, "currency"));
    charge->payment_method = json_string_value(json_object_get(msg->body, "payment_method"));
    return charge->amount > 0 && charge->currency && strlen(charge->currency) == 3 &&
           charge->payment_method && charge->payment_method[0];
}

/* Inserts the charge's row in the step's transaction. */
static wr_status record(struct wrk_step *step, const struct wrk_message *msg,
                        const struct pgw_charge *charge, const struct pgw_outcome *out,
                        struct wr_error *err)
{
    char key[128], amount[32], attempt[16];
    if (pgw_idempotency_key(charge->order_id, key, sizeof key) != WR_OK)
        return wr_error_set(err, WR_ERR_INVALID, "order id unusable");
    snprintf(amount, sizeof amount, "%lld", charge->amount);
    snprintf(attempt, sizeof attempt, "%d", msg->attempt);
    bool paid = out->result == PGW_SUCCEEDED;
    const char *params[] = {charge->order_id,
                            key,
                            out->intent_id[0] ? out->intent_id : NULL,
                            amount,
                            charge->currency,
                            paid ? "succeeded" : "declined",
                            paid ? NULL : out->decline_code,
                            paid ? NULL : out->reason,
                            attempt};
    return db_exec_later(wrk_step_db(step),
                         "INSERT INTO charges (order_id, idempotency_key, intent_id, amount,"
                         " currency, status, decline_code, reason, attempt)"
                         " VALUES ($1, $2, $3, $4::bigint, $5, $6, $7, $8, $9::integer)"
                         " ON CONFLICT (order_id) DO NOTHING",
                         9, params, err);
}

/* The answer to the order service for a paid or declined charge. */
static json_t *answer(const struct pgw_charge *charge, const struct pgw_outcome *out)
{
    if (out->result == PGW_SUCCEEDED)
        return json_pack("{s:s, s:s, s:I, s:s}", "order_id", charge->order_id, "payment_intent_id",
                         out->intent_id, "amount", (json_int_t)charge->amount, "currency",
                         charge->currency);
    return json_pack("{s:s, s:s, s:s}", "order_id", charge->order_id, "reason", out->reason,
                     "decline_code", out->decline_code);
}

/* Records the outcome and queues the answer. */
static enum wrk_outcome settle(struct wrk_step *step, const struct wrk_message *msg,
                               const struct pgw_charge *charge, const struct pgw_outcome *out,
                               struct wr_error *why)
{
    struct wr_error err;
    /* the retry gets the same intent back: no second charge */
    if (record(step, msg, charge, out, &err) != WR_OK)
        return wrk_db_failed(why, "payment", &err);
    json_t *body = answer(charge, out);
    bool paid = out->result == PGW_SUCCEEDED;
    wr_status status =
        body ? wrk_step_emit(step, paid ? "payment.succeeded" : "payment.failed", body)
             : WR_ERR_NOMEM;
    json_decref(body);
    if (status != WR_OK) {
        wr_error_set(why, status, "outbox write failed");
        return WRK_RETRY;
    }
    if (paid)
        wr_log(WR_LOG_INFO, "payment", "order %s paid: %lld %s, intent %s", charge->order_id,
               charge->amount, charge->currency, out->intent_id);
    else
        wr_log(WR_LOG_INFO, "payment", "order %s declined (%s): %s", charge->order_id,
               out->decline_code, out->reason);
    return WRK_DONE;
}

static enum wrk_outcome payment_handle(void *state, const struct wrk_message *msg,
                                       struct wrk_step *step, struct wr_error *why)
{
    struct payment *p = state;
    struct pgw_charge charge;
    struct pgw_outcome out;
    if (strcmp(msg->type, "payment.charge") != 0)
        return wrk_bad_message(why, "the payment service handles payment.charge only");
    if (!read_charge(msg, &charge))
        return wrk_bad_message(why, "payment.charge needs amount > 0, a 3-letter currency and a "
                                    "payment_method");
    enum pgw_result result = pgw_charge(p->gateway, &charge, &out);
    wrk_crash_point("payment", "after_charge");
    switch (result) {
    case PGW_SUCCEEDED:
    case PGW_DECLINED:
        return settle(step, msg, &charge, &out, why);
    case PGW_TRANSIENT:
        wr_error_set(why, WR_ERR_HTTP, "%s", out.reason);
        return wrk_step_downstream_failed(step, "payment gateway");
    case PGW_PERMANENT:
        break;
    }
    wr_error_set(why, WR_ERR_HTTP, "%s", out.reason);
    return WRK_PERMANENT;
}

const struct wrk_service wrk_payment_service = {
    .name = "payment",
    .migrations = payment_migrations,
    .migration_count = sizeof payment_migrations / sizeof payment_migrations[0],
    .init = payment_init,
    .handle = payment_handle,
    .fini = payment_fini,
};
