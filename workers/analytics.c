/* The analytics service: every message on the exchange becomes one row of
 * its events table (type, order, storefront, currency, amount, reason,
 * time), one insert per event. The runtime's inbox makes each
 * <type>:<order id> count once; `warrenctl report` reads the figures. */
#include <stdio.h>
#include <string.h>

#include "workers/services.h"

static const struct db_migration analytics_migrations[] = {
    {1, "CREATE TABLE events ("
        " id bigserial PRIMARY KEY,"
        " type text NOT NULL,"
        " order_id text NOT NULL,"
        " storefront text,"
        " currency text,"
        " amount bigint,"
        " reason text,"
        " at timestamptz NOT NULL DEFAULT now());"
        "CREATE INDEX events_by_time ON events (at);"
        "CREATE INDEX events_by_order ON events (order_id);"},
};

/* The amount an event carries: an order's or reservation's total, or a
 * payment's amount; NULL when it has none. */
static const char *amount_of(const json_t *body, char *out, size_t size)
{
    json_t *amount = json_object_get(body, "total");
    if (!json_is_integer(amount))
        amount = json_object_get(body, "amount");
    if (!json_is_integer(amount))
        return NULL;
    snprintf(out, size, "%lld", (long long)json_integer_value(amount));
    return out;
}

static const char *string_field(const json_t *body, const char *key)
{
    return json_string_value(json_object_get(body, key));
}

/* Every type is stored, known or not: a new event type is data, never an
 * error. */
static enum wrk_outcome analytics_handle(void *state, const struct wrk_message *msg,
                                         struct wrk_step *step, struct wr_error *why)
{
    char amount[32], sent_at[24];
    struct wr_error err;
    (void)state;
    snprintf(sent_at, sizeof sent_at, "%lld", (long long)msg->timestamp);
    const char *params[] = {
        msg->type,
        msg->order_id,
        msg->storefront ? msg->storefront : string_field(msg->body, "storefront"),
        string_field(msg->body, "currency"),
        amount_of(msg->body, amount, sizeof amount),
        string_field(msg->body, "reason"),
        msg->timestamp > 0 ? sent_at : NULL,
    };
    if (db_exec_later(wrk_step_db(step),
                      "INSERT INTO events (type, order_id, storefront, currency, amount, reason, at)"
                      " VALUES ($1, $2, $3, $4, $5::bigint, $6,"
                      " coalesce(to_timestamp($7::bigint), now()))",
                      7, params, &err) == WR_OK)
        return WRK_DONE;
    return wrk_db_failed(why, "analytics", &err);
}

const struct wrk_service wrk_analytics_service = {
    .name = "analytics",
    .migrations = analytics_migrations,
    .migration_count = sizeof analytics_migrations / sizeof analytics_migrations[0],
    .handle = analytics_handle,
};
