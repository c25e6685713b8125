/* The runtime's tables in each service's database: the inbox (one row per
 * message effect, keyed by the message's dedupe key) and the outbox (the
 * messages a committed step still has to publish). */
#include "workers/internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static const struct db_migration store_migrations[] = {
    {1, "CREATE TABLE wrk_inbox ("
        " dedupe_key text PRIMARY KEY,"
        " message_id text NOT NULL,"
        " type text NOT NULL,"
        " received_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE wrk_outbox ("
        " id bigserial PRIMARY KEY,"
        " dedupe_key text NOT NULL,"
        " message_id uuid NOT NULL DEFAULT gen_random_uuid(),"
        " type text NOT NULL,"
        " order_id text NOT NULL,"
        " storefront text,"
        " traceparent text,"
        " body text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " published_at timestamptz);"
        "CREATE INDEX wrk_outbox_by_key ON wrk_outbox (dedupe_key);"
        "CREATE INDEX wrk_outbox_unpublished ON wrk_outbox (id) WHERE published_at IS NULL;"},
};

wr_status wrk_store_migrate(struct db_conn *db, struct wr_error *err)
{
    return db_migrate(db, "runtime", store_migrations,
                      sizeof store_migrations / sizeof store_migrations[0], err);
}

wr_status wrk_store_claim(struct db_conn *db, const struct wrk_incoming *in, bool *fresh,
                          struct wr_error *err)
{
    const char *params[] = {in->dedupe_key, in->msg.message_id ? in->msg.message_id : "",
                            in->msg.type};
    struct db_result *res = NULL;
    wr_status status = db_exec(db,
                               "INSERT INTO wrk_inbox (dedupe_key, message_id, type)"
                               " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
                               3, params, &res, err);
    if (status == WR_OK)
        *fresh = db_result_rows(res) == 1;
    db_result_free(res);
    return status;
}

wr_status wrk_step_emit(struct wrk_step *step, const char *type, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return WR_ERR_NOMEM;
    const struct wrk_message *msg = &step->in->msg;
    const char *params[] = {step->in->dedupe_key, type, msg->order_id, msg->storefront,
                            msg->traceparent, text};
    struct wr_error err;
    wr_status status = db_exec(step->db,
                               "INSERT INTO wrk_outbox"
                               " (dedupe_key, type, order_id, storefront, traceparent, body)"
                               " VALUES ($1, $2, $3, $4, $5, $6)",
                               6, params, NULL, &err);
    if (status != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "outbox: %s", err.message);
    free(text);
    return status;
}

struct db_conn *wrk_step_db(struct wrk_step *step)
{
    return step->db;
}

static char *copy_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

wr_status wrk_store_pending(struct db_conn *db, const char *dedupe_keys, size_t limit,
                            struct wrk_outbound **rows, size_t *count, struct wr_error *err)
{
    char limit_text[24];
    snprintf(limit_text, sizeof limit_text, "%zu", limit);
    const char *params[] = {dedupe_keys, limit_text};
    struct db_result *res = NULL;
    *rows = NULL;
    *count = 0;
    wr_status status = db_exec(db,
                               "SELECT id, message_id, type, order_id, storefront, traceparent, body"
                               " FROM wrk_outbox WHERE published_at IS NULL"
                               " AND ($1::jsonb IS NULL OR dedupe_key IN"
                               " (SELECT jsonb_array_elements_text($1::jsonb)))"
                               " ORDER BY id LIMIT $2::bigint",
                               2, params, &res, err);
    if (status != WR_OK)
        return status;
    size_t n = db_result_rows(res);
    *rows = calloc(n ? n : 1, sizeof **rows);
    for (size_t i = 0; *rows && i < n; i++) {
        struct wrk_outbound *row = &(*rows)[i];
        row->id = strtoll(db_result_value(res, i, 0), NULL, 10);
        row->message_id = copy_or_null(db_result_value(res, i, 1));
        row->type = copy_or_null(db_result_value(res, i, 2));
        row->order_id = copy_or_null(db_result_value(res, i, 3));
        row->storefront = copy_or_null(db_result_value(res, i, 4));
        row->traceparent = copy_or_null(db_result_value(res, i, 5));
        row->body = copy_or_null(db_result_value(res, i, 6));
    }
    db_result_free(res);
    if (!*rows)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    *count = n;
    return WR_OK;
}

void wrk_outbound_free(struct wrk_outbound *rows, size_t count)
{
    for (size_t i = 0; rows && i < count; i++) {
        free(rows[i].message_id);
        free(rows[i].type);
        free(rows[i].order_id);
        free(rows[i].storefront);
        free(rows[i].traceparent);
        free(rows[i].body);
    }
    free(rows);
}

wr_status wrk_store_mark_published(struct db_conn *db, const struct wrk_outbound *rows,
                                   size_t count, struct wr_error *err)
{
    if (count == 0)
        return WR_OK;
    char *ids = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&ids, &size);
    if (!out)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    fputc('{', out);
    for (size_t i = 0; i < count; i++)
        fprintf(out, "%s%lld", i ? "," : "", rows[i].id);
    fputc('}', out);
    fclose(out);
    const char *params[] = {ids};
    wr_status status = db_exec(db,
                               "UPDATE wrk_outbox SET published_at = now()"
                               " WHERE id = ANY($1::bigint[])",
                               1, params, NULL, err);
    free(ids);
    return status;
}

void wrk_crash_point(const char *service, const char *point)
{
    const char *wanted = getenv("WARREN_CRASH_AT");
    if (!wanted)
        return;
    size_t len = strlen(service);
    if (strncmp(wanted, service, len) == 0 && wanted[len] == ':' &&
        strcmp(wanted + len + 1, point) == 0) {
        wr_log(WR_LOG_WARN, "runtime", "crash point %s:%s reached: killing myself", service,
               point);
        kill(getpid(), SIGKILL);
    }
}
