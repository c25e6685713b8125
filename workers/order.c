/* The order service: the saga's orchestrator. It records each order and
 * its status history, and on every answer from inventory and payment
 * moves the order on and says what happens next (SPEC.md "Order flow"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "workers/services.h"

static const struct db_migration order_migrations[] = {
    {1, "CREATE TABLE orders ("
        " order_id uuid PRIMARY KEY,"
        " storefront text NOT NULL,"
        " idempotency_key text,"
        " status text NOT NULL,"
        " currency text NOT NULL,"
        " customer jsonb NOT NULL,"
        " items jsonb NOT NULL,"
        " lines jsonb,"
        " total bigint,"
        " reason text,"
        " notify jsonb NOT NULL,"
        " payment jsonb NOT NULL,"
        " shipping_address jsonb,"
        " placed_at timestamptz NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " updated_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE order_history ("
        " order_id uuid NOT NULL REFERENCES orders,"
        " status text NOT NULL,"
        " at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (order_id, status));"},
};

static char *dump(json_t *value)
{
    return value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static enum wrk_outcome on_placed(struct wrk_step *step, const struct wrk_message *msg,
                                  struct wr_error *why)
{
    json_t *b = msg->body;
    const char *storefront = json_string_value(json_object_get(b, "storefront"));
    const char *currency = json_string_value(json_object_get(b, "currency"));
    json_t *items = json_object_get(b, "items");
    if (!storefront || !currency || !json_is_array(items) || !json_object_get(b, "customer") ||
        !json_object_get(b, "payment") || !json_object_get(b, "placed_at"))
        return wrk_bad_message(why, "order.placed lacks storefront, currency, items, customer, "
                                    "payment or placed_at");
    char *customer = dump(json_object_get(b, "customer")), *items_text = dump(items);
    char *notify = dump(json_object_get(b, "notify")),
         *payment = dump(json_object_get(b, "payment"));
    char *shipping = dump(json_object_get(b, "shipping_address"));
    const char *params[] = {msg->order_id,
                            storefront,
                            json_string_value(json_object_get(b, "idempotency_key")),
                            currency,
                            customer,
                            items_text,
                            notify ? notify : "[\"email\"]",
                            payment,
                            shipping,
                            json_string_value(json_object_get(b, "placed_at"))};
    struct wr_error err;
    struct db_result *res = NULL;
    wr_status status = db_exec(wrk_step_db(step),
                               "INSERT INTO orders (order_id, storefront, idempotency_key, status,"
                               " currency, customer, items, notify, payment, shipping_address,"
                               " placed_at) VALUES ($1, $2, $3, 'accepted', $4, $5, $6, $7, $8,"
                               " $9, $10) ON CONFLICT (order_id) DO NOTHING RETURNING 1",
                               10, params, &res, &err);
    bool inserted = status == WR_OK && db_result_rows(res) == 1;
    db_result_free(res);
    if (inserted)
        status = db_exec_later(wrk_step_db(step),
                               "INSERT INTO order_history (order_id, status) VALUES ($1, 'accepted')",
                               1, params, &err);
    free(customer);
    free(items_text);
    free(notify);
    free(payment);
    free(shipping);
    if (status != WR_OK)
        return wrk_db_failed(why, "order", &err);
    if (!inserted)
        return WRK_DONE; /* the same order id again (another producer's duplicate) */
    json_t *reserve = json_pack("{s:s, s:s, s:O}", "order_id", msg->order_id, "currency", currency,
                                "items", items);
    status = wrk_step_emit(step, "inventory.reserve", reserve);
    json_decref(reserve);
    if (status != WR_OK)
        return wrk_db_failed(why, "order",
                             &(struct wr_error){.code = status, .message = "outbox write"});
    return WRK_DONE;
}

/* Moves the order from `from` to `to` with optional lines/total/reason;
 * *moved is false when the order was not in `from` (an old duplicate). */
static wr_status transition(struct wrk_step *step, const char *order_id, const char *from,
                            const char *to, const char *lines, const char *total,
                            const char *reason, json_t **order, struct wr_error *err)
{
    const char *params[] = {order_id, from, to, lines, total, reason};
    struct db_result *res = NULL;
    *order = NULL;
    wr_status status = db_exec(
        wrk_step_db(step),
        "UPDATE orders SET status = $3, lines = coalesce($4::jsonb, lines),"
        " total = coalesce($5::bigint, total), reason = coalesce($6, reason), updated_at = now()"
        " WHERE order_id = $1 AND status = $2"
        " RETURNING json_build_object('order_id', order_id, 'status', status, 'storefront',"
        " storefront, 'currency', currency, 'customer', customer, 'notify', notify, 'items',"
        " items, 'lines', lines, 'total', total, 'reason', reason, 'payment', payment)::text",
        6, params, &res, err);
    if (status == WR_OK && db_result_rows(res) == 1)
        *order = json_loads(db_result_value(res, 0, 0), 0, NULL);
    db_result_free(res);
    const char *history[] = {order_id, to};
    if (status == WR_OK && *order)
        status = db_exec_later(wrk_step_db(step),
                               "INSERT INTO order_history (order_id, status) VALUES ($1, $2)"
                               " ON CONFLICT DO NOTHING",
                               2, history, err);
    return status;
}

/* Emits each type in types (NULL-terminated) with body. */
static enum wrk_outcome emit_all(struct wrk_step *step, const char *const *types, json_t *body,
                                 struct wr_error *why)
{
    for (size_t i = 0; types[i]; i++) {
        wr_status status = wrk_step_emit(step, types[i], body);
        if (status != WR_OK) {
            wr_error_set(why, status, "outbox");
            return WRK_RETRY;
        }
    }
    return WRK_DONE;
}

static enum wrk_outcome on_reserved(struct wrk_step *step, const struct wrk_message *msg,
                                    struct wr_error *why)
{
    json_t *lines = json_object_get(msg->body, "lines");
    json_t *total = json_object_get(msg->body, "total");
    if (!json_is_array(lines) || !json_is_integer(total))
        return wrk_bad_message(why, "inventory.reserved lacks lines or total");
    char *lines_text = dump(lines), total_text[32];
    snprintf(total_text, sizeof total_text, "%lld", (long long)json_integer_value(total));
    json_t *order = NULL;
    struct wr_error err;
    wr_status status = transition(step, msg->order_id, "accepted", "reserved", lines_text,
                                  total_text, NULL, &order, &err);
    free(lines_text);
    if (status != WR_OK)
        return wrk_db_failed(why, "order", &err);
    if (!order)
        return WRK_DONE;
    json_t *payment = json_object_get(order, "payment");
    json_t *charge = json_pack("{s:s, s:O, s:O, s:O, s:O}", "order_id", msg->order_id, "amount",
                               total, "currency", json_object_get(order, "currency"),
                               "payment_method", json_object_get(payment, "token"), "customer",
                               json_object_get(order, "customer"));
    static const char *const next[] = {"payment.charge", NULL};
    enum wrk_outcome outcome = emit_all(step, next, charge, why);
    json_decref(charge);
    json_decref(order);
    return outcome;
}

/* A final status: record it and tell whoever needs to know. */
static enum wrk_outcome finish(struct wrk_step *step, const struct wrk_message *msg,
                               const char *from, const char *to, const char *reason,
                               const char *const *next, struct wr_error *why)
{
    json_t *order = NULL;
    struct wr_error err;
    if (transition(step, msg->order_id, from, to, NULL, NULL, reason, &order, &err) != WR_OK)
        return wrk_db_failed(why, "order", &err);
    if (!order)
        return WRK_DONE;
    json_object_del(order, "payment"); /* the card token stays in the order service */
    enum wrk_outcome outcome = emit_all(step, next, order, why);
    json_decref(order);
    return outcome;
}

static const char *reason_of(const struct wrk_message *msg, const char *fallback)
{
    const char *reason = json_string_value(json_object_get(msg->body, "reason"));
    return reason ? reason : fallback;
}

static enum wrk_outcome order_handle(void *state, const struct wrk_message *msg,
                                     struct wrk_step *step, struct wr_error *why)
{
    static const char *const rejected[] = {"order.rejected", NULL};
    static const char *const confirmed[] = {"inventory.commit", "order.confirmed", NULL};
    static const char *const failed[] = {"inventory.release", "order.payment_failed", NULL};
    (void)state;
    if (strcmp(msg->type, "order.placed") == 0)
        return on_placed(step, msg, why);
    if (strcmp(msg->type, "inventory.reserved") == 0)
        return on_reserved(step, msg, why);
    if (strcmp(msg->type, "inventory.rejected") == 0)
        return finish(step, msg, "accepted", "rejected", reason_of(msg, "out of stock"), rejected,
                      why);
    if (strcmp(msg->type, "payment.succeeded") == 0)
        return finish(step, msg, "reserved", "confirmed", NULL, confirmed, why);
    if (strcmp(msg->type, "payment.failed") == 0)
        return finish(step, msg, "reserved", "payment_failed", reason_of(msg, "payment failed"),
                      failed, why);
    return wrk_bad_message(why, "the order service does not handle this message type");
}

const struct wrk_service wrk_order_service = {
    .name = "order",
    .migrations = order_migrations,
    .migration_count = sizeof order_migrations / sizeof order_migrations[0],
    .handle = order_handle,
};
