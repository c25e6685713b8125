/* Idempotency-Key store: one row per (storefront, key) in PostgreSQL,
 * claimed with a single INSERT ... ON CONFLICT statement so concurrent
 * requests and API processes agree on exactly one owner. */
#include "api/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_migration idem_migrations[] = {
    {1, "CREATE TABLE idempotency_keys ("
        " storefront text NOT NULL,"
        " key text NOT NULL,"
        " request_hash text NOT NULL,"
        " order_id uuid NOT NULL,"
        " state text NOT NULL CHECK (state IN ('in_flight', 'done')),"
        " lease_until timestamptz NOT NULL,"
        " response_status int,"
        " response_body text,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (storefront, key));"
        "CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);"},
};

wr_status api_idem_migrate(struct db_conn *db, struct wr_error *err)
{
    return db_migrate(db, "api", idem_migrations, sizeof idem_migrations / sizeof idem_migrations[0],
                      err);
}

/* Inserts a new claim, or takes over an expired one with the same body;
 * returns a row only when this request now owns the key. */
static const char claim_sql[] =
    "INSERT INTO idempotency_keys AS k"
    " (storefront, key, request_hash, order_id, state, lease_until)"
    " VALUES ($1, $2, $3, $4::uuid, 'in_flight', now() + make_interval(secs => $5::int))"
    " ON CONFLICT (storefront, key) DO UPDATE SET lease_until = EXCLUDED.lease_until"
    " WHERE k.state = 'in_flight' AND k.lease_until < now()"
    " AND k.request_hash = EXCLUDED.request_hash"
    " RETURNING k.order_id";

static const char lookup_sql[] =
    "SELECT request_hash, state, order_id, response_status, response_body"
    " FROM idempotency_keys WHERE storefront = $1 AND key = $2";

static const char complete_sql[] =
    "UPDATE idempotency_keys SET state = 'done', response_status = $3::int,"
    " response_body = $4 WHERE storefront = $1 AND key = $2";

static const char release_sql[] =
    "UPDATE idempotency_keys SET lease_until = now() - interval '1 second'"
    " WHERE storefront = $1 AND key = $2 AND state = 'in_flight'";

static void set_statement(struct api_idem_statement *s, const char *sql, int param_count)
{
    s->st = (struct db_pipe_statement){.sql = sql, .param_count = param_count, .params = s->params};
}

void api_idem_claim_statement(struct api_idem_statement *s, const char *storefront,
                              const char *key, const char *request_hash,
                              const char *proposed_order_id, int lease_seconds)
{
    snprintf(s->number, sizeof s->number, "%d", lease_seconds);
    s->params[0] = storefront;
    s->params[1] = key;
    s->params[2] = request_hash;
    s->params[3] = proposed_order_id;
    s->params[4] = s->number;
    set_statement(s, claim_sql, 5);
}

bool api_idem_claim_read(const struct db_result *rows, struct api_idem_result *out)
{
    if (db_result_rows(rows) != 1)
        return false;
    out->claim = API_IDEM_NEW;
    snprintf(out->order_id, sizeof out->order_id, "%s", db_result_value(rows, 0, 0));
    return true;
}

void api_idem_lookup_statement(struct api_idem_statement *s, const char *storefront,
                               const char *key)
{
    s->params[0] = storefront;
    s->params[1] = key;
    set_statement(s, lookup_sql, 2);
}

wr_status api_idem_lookup_read(const struct db_result *rows, const char *request_hash,
                               struct api_idem_result *out, struct wr_error *err)
{
    if (db_result_rows(rows) == 0) /* purged since the claim: let the caller try again */
        return wr_error_set(err, WR_ERR_RETRY, "idempotency key vanished while claimed");
    snprintf(out->order_id, sizeof out->order_id, "%s", db_result_value(rows, 0, 2));
    if (strcmp(db_result_value(rows, 0, 0), request_hash) != 0) {
        out->claim = API_IDEM_MISMATCH;
    } else if (strcmp(db_result_value(rows, 0, 1), "done") == 0) {
        const char *body = db_result_value(rows, 0, 4);
        out->claim = API_IDEM_DONE;
        out->response_status = (int)strtol(db_result_value(rows, 0, 3), NULL, 10);
        if (!(out->response_body = strdup(body ? body : "")))
            return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    } else {
        out->claim = API_IDEM_IN_FLIGHT;
    }
    return WR_OK;
}

void api_idem_complete_statement(struct api_idem_statement *s, const char *storefront,
                                 const char *key, int response_status,
                                 const char *response_body)
{
    snprintf(s->number, sizeof s->number, "%d", response_status);
    s->params[0] = storefront;
    s->params[1] = key;
    s->params[2] = s->number;
    s->params[3] = response_body;
    set_statement(s, complete_sql, 4);
}

void api_idem_release_statement(struct api_idem_statement *s, const char *storefront,
                                const char *key)
{
    s->params[0] = storefront;
    s->params[1] = key;
    set_statement(s, release_sql, 2);
}

/* Runs a prepared statement on db. */
static wr_status run(struct db_conn *db, const struct api_idem_statement *s,
                     struct db_result **rows, struct wr_error *err)
{
    return db_exec(db, s->st.sql, s->st.param_count, s->st.params, rows, err);
}

static wr_status read_existing(struct db_conn *db, const char *storefront, const char *key,
                               const char *request_hash, struct api_idem_result *out,
                               struct wr_error *err)
{
    struct api_idem_statement s;
    struct db_result *res = NULL;
    api_idem_lookup_statement(&s, storefront, key);
    wr_status status = run(db, &s, &res, err);
    if (status == WR_OK)
        status = api_idem_lookup_read(res, request_hash, out, err);
    db_result_free(res);
    return status;
}

wr_status api_idem_claim(struct db_conn *db, const char *storefront, const char *key,
                         const char *request_hash, const char *proposed_order_id,
                         int lease_seconds, struct api_idem_result *out, struct wr_error *err)
{
    struct api_idem_statement s;
    struct db_result *res = NULL;
    memset(out, 0, sizeof *out);
    api_idem_claim_statement(&s, storefront, key, request_hash, proposed_order_id, lease_seconds);
    for (int attempt = 0; attempt < API_IDEM_CLAIM_ATTEMPTS; attempt++) {
        wr_status status = run(db, &s, &res, err);
        if (status != WR_OK)
            return status;
        bool owned = api_idem_claim_read(res, out);
        db_result_free(res);
        if (owned)
            return WR_OK;
        status = read_existing(db, storefront, key, request_hash, out, err);
        if (status != WR_ERR_RETRY)
            return status;
    }
    return wr_error_set(err, WR_ERR_RETRY, "idempotency key kept changing while claimed");
}

wr_status api_idem_complete(struct db_conn *db, const char *storefront, const char *key,
                            int response_status, const char *response_body, struct wr_error *err)
{
    struct api_idem_statement s;
    api_idem_complete_statement(&s, storefront, key, response_status, response_body);
    return run(db, &s, NULL, err);
}

wr_status api_idem_release(struct db_conn *db, const char *storefront, const char *key,
                           struct wr_error *err)
{
    struct api_idem_statement s;
    api_idem_release_statement(&s, storefront, key);
    return run(db, &s, NULL, err);
}

wr_status api_idem_purge(struct db_conn *db, int retention_hours, long *deleted,
                         struct wr_error *err)
{
    char hours[16];
    snprintf(hours, sizeof hours, "%d", retention_hours);
    const char *params[] = {hours};
    struct db_result *res = NULL;
    wr_status status = db_exec(db,
                               "WITH gone AS (DELETE FROM idempotency_keys"
                               " WHERE created_at < now() - make_interval(hours => $1::int)"
                               " AND (state = 'done' OR lease_until < now()) RETURNING 1) SELECT count(*) FROM gone",
                               1, params, &res, err);
    if (status == WR_OK)
        *deleted = strtol(db_result_value(res, 0, 0), NULL, 10);
    db_result_free(res);
    return status;
}
