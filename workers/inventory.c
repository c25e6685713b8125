/* The inventory service: the catalog (name, price, stock per SKU) and one
 * reservation per order. inventory.reserve takes every line of an order or
 * none, never overselling while several workers run: the order's catalog
 * rows are locked in SKU order before anything is checked. inventory.commit
 * and inventory.release close a reservation exactly once. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "workers/services.h"

static const struct db_migration inventory_migrations[] = {
    {1, "CREATE TABLE catalog ("
        " sku text PRIMARY KEY,"
        " name text NOT NULL,"
        " price bigint NOT NULL CHECK (price >= 0),"
        " currency text NOT NULL,"
        " stock integer NOT NULL CHECK (stock >= 0),"
        " updated_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE reservations ("
        " order_id text PRIMARY KEY,"
        " status text NOT NULL CHECK (status IN ('reserved', 'committed', 'released')),"
        " currency text NOT NULL,"
        " lines jsonb NOT NULL,"
        " total bigint NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " updated_at timestamptz NOT NULL DEFAULT now());"
        /* only open reservations: what `catalog show` sums as reserved */
        "CREATE INDEX reservations_open ON reservations (order_id) WHERE status = 'reserved';"},
};

/* Column order of the rows lock_catalog() returns. */
enum { COL_SKU, COL_NAME, COL_PRICE, COL_CURRENCY, COL_STOCK };

/* Why an order cannot be reserved, in the words inventory.rejected uses. */
struct refusal {
    const char *sku;
    char reason[320];
};

static enum wrk_outcome emit(struct wrk_step *step, const char *type, json_t *body,
                             struct wr_error *why)
{
    wr_status status = body ? wrk_step_emit(step, type, body) : WR_ERR_NOMEM;
    json_decref(body);
    if (status == WR_OK)
        return WRK_DONE;
    wr_error_set(why, status, "outbox: %s", wr_status_str(status));
    return WRK_RETRY;
}

/* ---- reserve ---------------------------------------------------------------- */

/* True if items is a non-empty array of {sku: string, quantity: 1..INT_MAX}. */
static bool items_valid(const json_t *items)
{
    size_t i;
    json_t *item;
    if (!json_is_array(items) || json_array_size(items) == 0)
        return false;
    json_array_foreach(items, i, item)
    {
        json_t *quantity = json_object_get(item, "quantity");
        if (!json_is_string(json_object_get(item, "sku")) || !json_is_integer(quantity) ||
            json_integer_value(quantity) < 1 || json_integer_value(quantity) > INT_MAX)
            return false;
    }
    return true;
}

static const char *item_sku(const json_t *items, size_t i)
{
    return json_string_value(json_object_get(json_array_get(items, i), "sku"));
}

static json_int_t item_quantity(const json_t *items, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(items, i), "quantity"));
}

/* Locks the catalog rows of items' SKUs in SKU order (so concurrent
 * reservations never deadlock) and returns them in *rows. */
static wr_status lock_catalog(struct wrk_step *step, const json_t *items, struct db_result **rows,
                              struct wr_error *err)
{
    json_t *skus = json_array();
    for (size_t i = 0; skus && i < json_array_size(items); i++)
        json_array_append_new(skus, json_string(item_sku(items, i)));
    char *text = skus ? json_dumps(skus, JSON_COMPACT) : NULL;
    json_decref(skus);
    if (!text)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    const char *params[] = {text};
    wr_status status =
        db_exec(wrk_step_db(step),
                "SELECT sku, name, price, currency, stock FROM catalog"
                " WHERE sku = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))"
                " ORDER BY sku FOR UPDATE",
                1, params, rows, err);
    free(text);
    return status;
}

/* The locked row of sku, or -1. */
static long find_row(const struct db_result *rows, const char *sku)
{
    for (size_t r = 0; r < db_result_rows(rows); r++)
        if (strcmp(db_result_value(rows, r, COL_SKU), sku) == 0)
            return (long)r;
    return -1;
}

/* The quantity of sku over every line (a producer may repeat a SKU). */
static long long wanted(const json_t *items, const char *sku)
{
    long long sum = 0;
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(item_sku(items, i), sku) == 0)
            sum += item_quantity(items, i);
    return sum;
}

/* Checks every line against the locked rows; false with *no set at the
 * first line that cannot be served. */
static bool check_lines(const struct db_result *rows, const json_t *items, const char *currency,
                        struct refusal *no)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *sku = item_sku(items, i);
        long row = find_row(rows, sku);
        no->sku = sku;
        if (row < 0) {
            snprintf(no->reason, sizeof no->reason, "unknown sku: %s", sku);
            return false;
        }
        const char *priced_in = db_result_value(rows, (size_t)row, COL_CURRENCY);
        if (strcmp(priced_in, currency) != 0) {
            snprintf(no->reason, sizeof no->reason, "currency mismatch: %s is priced in %s", sku,
                     priced_in);
            return false;
        }
        if (strtoll(db_result_value(rows, (size_t)row, COL_STOCK), NULL, 10) < wanted(items, sku)) {
            snprintf(no->reason, sizeof no->reason, "out of stock: %s", sku);
            return false;
        }
    }
    return true;
}

/* Prices every line from the catalog into a new array; *total is their
 * sum. NULL with no set if an amount would overflow. */
static json_t *price_lines(const struct db_result *rows, const json_t *items, json_int_t *total,
                           struct refusal *no)
{
    json_t *lines = json_array();
    *total = 0;
    for (size_t i = 0; lines && i < json_array_size(items); i++) {
        const char *sku = item_sku(items, i);
        size_t row = (size_t)find_row(rows, sku);
        json_int_t unit = strtoll(db_result_value(rows, row, COL_PRICE), NULL, 10), line_total;
        if (__builtin_mul_overflow(unit, item_quantity(items, i), &line_total) ||
            __builtin_add_overflow(*total, line_total, total)) {
            no->sku = sku;
            snprintf(no->reason, sizeof no->reason, "amount too large: %s", sku);
            json_decref(lines);
            return NULL;
        }
        json_array_append_new(lines, json_pack("{s:s, s:s, s:I, s:I, s:I}", "sku", sku, "name",
                                               db_result_value(rows, row, COL_NAME), "quantity",
                                               item_quantity(items, i), "unit_price", unit,
                                               "line_total", line_total));
    }
    return lines;
}

/* Moves stock by sign * quantity for every line of lines (a JSON array of
 * {sku, quantity}); the rows must be locked already. */
static wr_status move_stock(struct wrk_step *step, const char *lines, const char *sign,
                            struct wr_error *err)
{
    const char *params[] = {lines, sign};
    return db_exec_later(wrk_step_db(step),
                         "UPDATE catalog c SET stock = c.stock + $2::int * x.quantity,"
                         " updated_at = now()"
                         " FROM (SELECT l->>'sku' AS sku, sum((l->>'quantity')::int) AS quantity"
                         " FROM jsonb_array_elements($1::jsonb) AS l GROUP BY 1) AS x"
                         " WHERE c.sku = x.sku",
                         2, params, err);
}

/* Takes the stock and records the reservation. */
static wr_status take(struct wrk_step *step, const char *order_id, const char *currency,
                      const json_t *lines, json_int_t total, struct wr_error *err)
{
    char *lines_text = json_dumps(lines, JSON_COMPACT), total_text[32];
    if (!lines_text)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    snprintf(total_text, sizeof total_text, "%lld", (long long)total);
    const char *params[] = {order_id, currency, lines_text, total_text};
    wr_status status = move_stock(step, lines_text, "-1", err);
    if (status == WR_OK)
        status = db_exec_later(wrk_step_db(step),
                               "INSERT INTO reservations (order_id, status, currency, lines, total)"
                               " VALUES ($1, 'reserved', $2, $3::jsonb, $4::bigint)",
                               4, params, err);
    free(lines_text);
    return status;
}

static enum wrk_outcome reject(struct wrk_step *step, const struct wrk_message *msg,
                               const struct refusal *no, struct wr_error *why)
{
    return emit(step, "inventory.rejected",
                json_pack("{s:s, s:s, s:s?}", "order_id", msg->order_id, "reason", no->reason,
                          "sku", no->sku),
                why);
}

static enum wrk_outcome on_reserve(struct wrk_step *step, const struct wrk_message *msg,
                                   struct wr_error *why)
{
    const char *currency = json_string_value(json_object_get(msg->body, "currency"));
    json_t *items = json_object_get(msg->body, "items"), *lines = NULL;
    struct db_result *rows = NULL;
    struct refusal no = {0};
    struct wr_error err;
    json_int_t total = 0;
    enum wrk_outcome outcome;
    if (!currency || !items_valid(items))
        return wrk_bad_message(why, "inventory.reserve needs currency and items "
                                    "[{sku, quantity 1..2147483647}, ...]");
    if (lock_catalog(step, items, &rows, &err) != WR_OK) {
        outcome = wrk_db_failed(why, "inventory", &err);
        goto out;
    }
    if (!check_lines(rows, items, currency, &no) ||
        !(lines = price_lines(rows, items, &total, &no))) {
        outcome = reject(step, msg, &no, why);
        goto out;
    }
    if (take(step, msg->order_id, currency, lines, total, &err) != WR_OK) {
        outcome = wrk_db_failed(why, "inventory", &err);
        goto out;
    }
    outcome = emit(step, "inventory.reserved",
                   json_pack("{s:s, s:s, s:O, s:I}", "order_id", msg->order_id, "currency",
                             currency, "lines", lines, "total", total),
                   why);
out:
    json_decref(lines);
    db_result_free(rows);
    return outcome;
}

/* ---- commit and release ------------------------------------------------------- */

/* reserved -> committed: the stock stays taken. Anything else is an old
 * duplicate or a commit for a reservation that never was: nothing to do. */
static enum wrk_outcome on_commit(struct wrk_step *step, const struct wrk_message *msg,
                                  struct wr_error *why)
{
    const char *params[] = {msg->order_id};
    struct db_result *res = NULL;
    struct wr_error err;
    if (db_exec(wrk_step_db(step),
                "UPDATE reservations SET status = 'committed', updated_at = now()"
                " WHERE order_id = $1 AND status = 'reserved' RETURNING 1",
                1, params, &res, &err) != WR_OK)
        return wrk_db_failed(why, "inventory", &err);
    if (db_result_rows(res) == 0)
        wr_log(WR_LOG_WARN, "inventory", "commit %s: no open reservation", msg->order_id);
    db_result_free(res);
    return WRK_DONE;
}

/* reserved -> released, putting the quantities back (compensation after a
 * failed payment). Only the transition out of `reserved` gives stock back,
 * so a second release, or a release after commit, changes nothing. */
static enum wrk_outcome on_release(struct wrk_step *step, const struct wrk_message *msg,
                                   struct wr_error *why)
{
    const char *params[] = {msg->order_id};
    struct db_result *res = NULL, *locked = NULL;
    struct wr_error err;
    enum wrk_outcome outcome = WRK_DONE;
    json_t *lines = NULL;
    if (db_exec(wrk_step_db(step),
                "UPDATE reservations SET status = 'released', updated_at = now()"
                " WHERE order_id = $1 AND status = 'reserved' RETURNING lines::text",
                1, params, &res, &err) != WR_OK) {
        outcome = wrk_db_failed(why, "inventory", &err);
        goto out;
    }
    if (db_result_rows(res) == 0) {
        wr_log(WR_LOG_INFO, "inventory", "release %s: no open reservation", msg->order_id);
        goto out;
    }
    lines = json_loads(db_result_value(res, 0, 0), 0, NULL);
    if (!lines) {
        outcome = wrk_bad_message(why, "the reservation's stored lines are not JSON");
        goto out;
    }
    if (lock_catalog(step, lines, &locked, &err) != WR_OK ||
        move_stock(step, db_result_value(res, 0, 0), "1", &err) != WR_OK)
        outcome = wrk_db_failed(why, "inventory", &err);
out:
    json_decref(lines);
    db_result_free(locked);
    db_result_free(res);
    return outcome;
}

/* ---- dispatch ------------------------------------------------------------------ */

static const struct {
    const char *type;
    enum wrk_outcome (*handle)(struct wrk_step *, const struct wrk_message *, struct wr_error *);
} handlers[] = {
    {"inventory.reserve", on_reserve},
    {"inventory.commit", on_commit},
    {"inventory.release", on_release},
};

static enum wrk_outcome inventory_handle(void *state, const struct wrk_message *msg,
                                         struct wrk_step *step, struct wr_error *why)
{
    (void)state;
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(msg->type, handlers[i].type) == 0)
            return handlers[i].handle(step, msg, why);
    return wrk_bad_message(why, "the inventory service does not handle this message type");
}

const struct wrk_service wrk_inventory_service = {
    .name = "inventory",
    .migrations = inventory_migrations,
    .migration_count = sizeof inventory_migrations / sizeof inventory_migrations[0],
    .handle = inventory_handle,
};
