/* The runtime's tables in each service's database: the inbox (one row per
 * message effect, keyed by the message's dedupe key) and the outbox (the
 * messages a committed step still has to publish; a row is deleted once
 * the broker confirmed it). */
#include "workers/internal.h"

#include <stdbool.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/grow.h"
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
    /* published rows were kept, marked, for ever; now they are deleted */
    {2, "DELETE FROM wrk_outbox WHERE published_at IS NOT NULL;"},
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

static char *copy_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

static void outbound_clear(struct wrk_outbound *row)
{
    free(row->message_id);
    free(row->type);
    free(row->order_id);
    free(row->storefront);
    free(row->traceparent);
    free(row->body);
}

void wrk_rows_truncate(struct wrk_rows *rows, size_t keep)
{
    for (size_t i = keep; i < rows->count; i++)
        outbound_clear(&rows->rows[i]);
    if (keep < rows->count)
        rows->count = keep;
}

void wrk_rows_free(struct wrk_rows *rows)
{
    wrk_rows_truncate(rows, 0);
    free(rows->rows);
    *rows = (struct wrk_rows){0};
}

/* A new zeroed row at the end of rows; NULL when out of memory. */
static struct wrk_outbound *rows_push(struct wrk_rows *rows)
{
    if (!wr_grow(&rows->rows, &rows->cap, rows->count, sizeof *rows->rows, 16))
        return NULL;
    struct wrk_outbound *row = &rows->rows[rows->count++];
    *row = (struct wrk_outbound){0};
    return row;
}

static bool rows_hold(const struct wrk_rows *rows, long long id)
{
    for (size_t i = 0; i < rows->count; i++)
        if (rows->rows[i].id == id)
            return true;
    return false;
}

/* Fills row from text copies; false when out of memory (row is then cleared). */
static bool outbound_fill(struct wrk_outbound *row, const char *const text[6])
{
    char **fields[] = {&row->message_id,  &row->type,        &row->order_id,
                       &row->storefront, &row->traceparent, &row->body};
    bool ok = true;
    for (size_t i = 0; i < 6; i++) {
        *fields[i] = copy_or_null(text[i]);
        ok = ok && (*fields[i] || !text[i]);
    }
    if (!ok)
        outbound_clear(row);
    return ok;
}

wr_status wrk_step_emit(struct wrk_step *step, const char *type, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return WR_ERR_NOMEM;
    const struct wrk_message *msg = &step->in->msg;
    const char *fields[] = {NULL, type, msg->order_id, msg->storefront, msg->traceparent, text};
    struct wrk_outbound *row = rows_push(step->emitted);
    wr_status status = row && outbound_fill(row, fields) ? WR_OK : WR_ERR_NOMEM;
    if (row && status != WR_OK)
        step->emitted->count--;
    free(text);
    return status;
}

/* [[type, body], ...] of rows[from..], the outbox rows of one step. */
static char *emitted_json(const struct wrk_rows *rows, size_t from)
{
    json_t *list = json_array();
    for (size_t i = from; list && i < rows->count; i++)
        if (json_array_append_new(list, json_pack("[s, s]", rows->rows[i].type,
                                                  rows->rows[i].body)) != 0) {
            json_decref(list);
            list = NULL;
        }
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    return text;
}

wr_status wrk_store_commit(struct db_conn *db, const struct wrk_incoming *in,
                           struct wrk_rows *rows, size_t from, struct wr_error *err)
{
    if (from >= rows->count)
        return db_commit(db, err);
    char *emitted = emitted_json(rows, from);
    if (!emitted)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    const struct wrk_message *msg = &in->msg;
    const char *params[] = {in->dedupe_key, msg->order_id, msg->storefront, msg->traceparent,
                            emitted};
    struct db_result *res = NULL;
    /* ids come from the sequence in insertion order, which is the rows' order */
    wr_status status = db_exec_commit(
        db,
        "WITH written AS (INSERT INTO wrk_outbox"
        " (dedupe_key, type, order_id, storefront, traceparent, body)"
        " SELECT $1, e.v->>0, $2, $3, $4, e.v->>1"
        " FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS e(v, n) ORDER BY e.n"
        " RETURNING id, message_id)"
        " SELECT id, message_id FROM written ORDER BY id",
        5, params, &res, err);
    free(emitted);
    if (status == WR_OK && db_result_rows(res) != rows->count - from)
        status = wr_error_set(err, WR_ERR_IO, "outbox: %zu rows written for %zu",
                              db_result_rows(res), rows->count - from);
    for (size_t i = 0; status == WR_OK && i < rows->count - from; i++) {
        struct wrk_outbound *row = &rows->rows[from + i];
        row->id = strtoll(db_result_value(res, i, 0), NULL, 10);
        if (!(row->message_id = strdup(db_result_value(res, i, 1))))
            status = wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    }
    db_result_free(res);
    return status;
}

struct db_conn *wrk_step_db(struct wrk_step *step)
{
    return step->db;
}

wr_status wrk_store_pending(struct db_conn *db, const char *dedupe_keys, size_t limit,
                            struct wrk_rows *rows, size_t *added, struct wr_error *err)
{
    char limit_text[24];
    snprintf(limit_text, sizeof limit_text, "%zu", limit);
    const char *params[] = {dedupe_keys, limit_text};
    struct db_result *res = NULL;
    *added = 0;
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
    for (size_t i = 0; status == WR_OK && i < n; i++) {
        long long id = strtoll(db_result_value(res, i, 0), NULL, 10);
        if (rows_hold(rows, id))
            continue;
        const char *fields[6];
        for (int c = 0; c < 6; c++)
            fields[c] = db_result_value(res, i, c + 1);
        struct wrk_outbound *row = rows_push(rows);
        if (row)
            row->id = id;
        if (!row || !outbound_fill(row, fields)) {
            if (row)
                rows->count--;
            status = wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        } else {
            (*added)++;
        }
    }
    db_result_free(res);
    return status;
}

wr_status wrk_store_delete_published(struct db_conn *db, const struct wrk_rows *rows,
                                   struct wr_error *err)
{
    if (rows->count == 0)
        return WR_OK;
    char *ids = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&ids, &size);
    if (!out)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    fputc('{', out);
    for (size_t i = 0; i < rows->count; i++)
        fprintf(out, "%s%lld", i ? "," : "", rows->rows[i].id);
    fputc('}', out);
    if (fclose(out) != 0) {
        free(ids);
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    }
    const char *params[] = {ids};
    /* a delete, not a mark: an UPDATE wrote a new version of every row
     * and index entry, and the table grew without end */
    wr_status status = db_exec(db, "DELETE FROM wrk_outbox WHERE id = ANY($1::bigint[])", 1,
                               params, NULL, err);
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
