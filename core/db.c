/* PostgreSQL access over libpq: connect, parameterised statements,
 * transactions and versioned migrations, with SQLSTATEs mapped onto
 * wr_status in one place. */
#include "core/db.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* A statement this connection has prepared on the server (see prepare). */
struct db_prepared {
    uint64_t hash; /* of sql */
    char *sql;
    char name[8]; /* "w0", "w1", ... */
};

/* Statements prepared per connection; a program's statements are a fixed
 * set of constants (a service has 10-20), beyond this they run unnamed. */
#define DB_PREPARED_MAX 64

/* Statements db_exec_later holds at most; one more sends them first. */
#define DB_DEFERRED_MAX 16

/* A statement db_exec_later queued for the transaction's next round trip. */
struct db_deferred {
    char *sql;
    int param_count;
    char **params;
};

struct db_conn {
    PGconn *pg;
    char *url;
    bool begin_pending; /* db_begin() was called; BEGIN goes with the next statement */
    bool in_transaction; /* BEGIN was sent and no COMMIT or ROLLBACK yet */
    struct db_prepared prepared[DB_PREPARED_MAX];
    struct db_deferred deferred[DB_DEFERRED_MAX]; /* db_exec_later's, not yet sent */
    size_t deferred_count;
    size_t prepared_count;
};

/* One statement to send: prepared (name set) or unnamed. */
struct db_statement {
    const char *sql;
    const char *name; /* the prepared statement's name, or NULL */
    int param_count;
    const char *const *params;
};

struct db_result {
    PGresult *pg;
};

/* Server notices ("relation already exists, skipping") are debug output. */
static void log_notice(void *arg, const char *message)
{
    (void)arg;
    wr_log(WR_LOG_DEBUG, "db", "%s", message);
}

/* Prepared statements live in the server session: a new one has none. */
static void forget_prepared(struct db_conn *db)
{
    for (size_t i = 0; i < db->prepared_count; i++)
        free(db->prepared[i].sql);
    db->prepared_count = 0;
}

static void forget_deferred(struct db_conn *db)
{
    for (size_t i = 0; i < db->deferred_count; i++) {
        struct db_deferred *d = &db->deferred[i];
        for (int p = 0; p < d->param_count; p++)
            free(d->params[p]);
        free(d->params);
        free(d->sql);
    }
    db->deferred_count = 0;
}

static wr_status connect_pg(struct db_conn *db, struct wr_error *err)
{
    char shown[256];
    if (db->pg)
        PQfinish(db->pg);
    forget_prepared(db);
    /* gssencmode=disable unless the URL asks for it: libpq's default
     * ("prefer") probes for Kerberos credentials on every connect, which
     * loads and initialises the whole Kerberos library (about 0.5 MiB of
     * every process) for a feature warren's deployments do not use. The
     * URL's own parameters come after it, so they win. */
    static const char *const keywords[] = {"gssencmode", "dbname", NULL};
    const char *values[] = {"disable", db->url, NULL};
    db->pg = PQconnectdbParams(keywords, values, 1);
    if (PQstatus(db->pg) == CONNECTION_OK) {
        PQsetNoticeProcessor(db->pg, log_notice, NULL);
        return WR_OK;
    }
    wr_redact_url(db->url, shown, sizeof shown);
    wr_error_set(err, WR_ERR_CONNECTION, "database %s: %s", shown, PQerrorMessage(db->pg));
    PQfinish(db->pg);
    db->pg = NULL;
    return WR_ERR_CONNECTION;
}

struct db_conn *db_open(const char *url, struct wr_error *err)
{
    struct db_conn *db = calloc(1, sizeof *db);
    if (!db || !(db->url = strdup(url))) {
        free(db);
        wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (connect_pg(db, err) != WR_OK) {
        db_close(db);
        return NULL;
    }
    return db;
}

void db_close(struct db_conn *db)
{
    if (!db)
        return;
    if (db->pg)
        PQfinish(db->pg);
    forget_prepared(db);
    forget_deferred(db);
    free(db->url);
    free(db);
}

/* The one mapping from a failed PGresult to wr_status. */
static wr_status status_from_result(struct db_conn *db, PGresult *res, struct wr_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    wr_status code = WR_ERR_IO;
    if (PQstatus(db->pg) != CONNECTION_OK)
        code = WR_ERR_CONNECTION;
    else if (state && strcmp(state, "23505") == 0)
        code = WR_ERR_CONFLICT;
    else if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        code = WR_ERR_RETRY;
    wr_error_set(err, code, "database: %s%s%s", state ? state : "", state ? " " : "",
                 PQerrorMessage(db->pg));
    return code;
}

static int send_statement(PGconn *pg, const struct db_statement *st)
{
    return st->name ? PQsendQueryPrepared(pg, st->name, st->param_count, st->params, NULL, NULL, 0)
                    : PQsendQueryParams(pg, st->sql, st->param_count, NULL, st->params, NULL,
                                        NULL, 0);
}

/* Sends count statements in one round trip (libpq's pipeline mode) and
 * puts their results in results[0..count) (NULL where none came: the
 * connection failed). After a failed statement the server skips the rest
 * (their results say PGRES_PIPELINE_ABORTED). */
static void exec_pipeline(PGconn *pg, const struct db_statement *statements, size_t count,
                          PGresult **results)
{
    size_t seen = 0;
    for (size_t i = 0; i < count; i++)
        results[i] = NULL;
    if (!PQenterPipelineMode(pg))
        return;
    bool sent = true;
    for (size_t i = 0; sent && i < count; i++)
        sent = send_statement(pg, &statements[i]);
    if (sent && PQpipelineSync(pg)) {
        /* each query's results end with a NULL; two in a row: the link is gone */
        for (int nulls = 0; nulls < 2;) {
            PGresult *res = PQgetResult(pg);
            nulls = res ? 0 : nulls + 1;
            if (res && PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
                PQclear(res);
                break;
            }
            if (res && seen < count)
                results[seen++] = res;
            else
                PQclear(res);
        }
    }
    PQexitPipelineMode(pg);
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Wraps res (success) into *result when the caller wants it, else frees it. */
static wr_status hand_over(PGresult *res, struct db_result **result, struct wr_error *err)
{
    if (!result) {
        PQclear(res);
        return WR_OK;
    }
    *result = malloc(sizeof **result);
    if (!*result) {
        PQclear(res);
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    }
    (*result)->pg = res;
    return WR_OK;
}

static uint64_t sql_hash(const char *sql)
{
    uint64_t hash = 14695981039346656037u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)sql; *c; c++)
        hash = (hash ^ *c) * 1099511628211u;
    return hash;
}

/* Fills st for sql, prepared on the server the first time this connection
 * runs it: the server then parses and analyses it once per connection
 * instead of on every call (and may keep a generic plan), which was about a
 * tenth of PostgreSQL's CPU under the order flow. Parameters still travel
 * apart from the text, exactly as with PQexecParams. The PQprepare round
 * trip happens once; when it fails, the statement's error is the answer
 * (an error inside a transaction aborts it, as the statement would). A
 * statement beyond DB_PREPARED_MAX runs unnamed. */
static wr_status prepare(struct db_conn *db, const char *sql, int param_count,
                         const char *const *params, struct db_statement *st,
                         struct wr_error *err)
{
    *st = (struct db_statement){.sql = sql, .param_count = param_count, .params = params};
    uint64_t hash = sql_hash(sql);
    for (size_t i = 0; i < db->prepared_count; i++)
        if (db->prepared[i].hash == hash && strcmp(db->prepared[i].sql, sql) == 0) {
            st->name = db->prepared[i].name;
            return WR_OK;
        }
    if (db->prepared_count == DB_PREPARED_MAX)
        return WR_OK;
    char *copy = strdup(sql);
    if (!copy)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    struct db_prepared *entry = &db->prepared[db->prepared_count];
    snprintf(entry->name, sizeof entry->name, "w%zu", db->prepared_count);
    PGresult *res = PQprepare(db->pg, entry->name, sql, param_count, NULL);
    if (!result_ok(res)) {
        wr_status code = status_from_result(db, res, err);
        PQclear(res);
        free(copy);
        return code;
    }
    PQclear(res);
    entry->hash = hash;
    entry->sql = copy;
    db->prepared_count++;
    st->name = entry->name;
    return WR_OK;
}

/* The one way statements reach the server: BEGIN when db_begin left one
 * pending, the statements db_exec_later queued, then sql (unless NULL) and
 * COMMIT (when commit), all in one round trip. WR_OK when every one
 * succeeded, *result (if not NULL) then holding sql's rows; otherwise the
 * first failure's status, nothing is committed and the caller rolls back.
 * A connection lost inside a transaction fails the transaction: the next
 * statement outside one reconnects. */
static wr_status run(struct db_conn *db, const char *sql, int param_count,
                     const char *const *params, bool commit, struct db_result **result,
                     struct wr_error *err)
{
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        if (db->in_transaction)
            return wr_error_set(err, WR_ERR_CONNECTION,
                                "database: the connection was lost inside the transaction");
        wr_status reconnected = connect_pg(db, err);
        if (reconnected != WR_OK)
            return reconnected;
    }
    struct db_statement statements[DB_DEFERRED_MAX + 3];
    PGresult *results[DB_DEFERRED_MAX + 3];
    size_t count = 0, wanted = 0;
    wr_status status = WR_OK;
    if (db->begin_pending)
        statements[count++] = (struct db_statement){.sql = "BEGIN"};
    for (size_t i = 0; status == WR_OK && i < db->deferred_count; i++) {
        const struct db_deferred *d = &db->deferred[i];
        status = prepare(db, d->sql, d->param_count, (const char *const *)d->params,
                         &statements[count++], err);
    }
    if (status == WR_OK && sql) {
        wanted = count;
        status = prepare(db, sql, param_count, params, &statements[count++], err);
    }
    if (status != WR_OK)
        return status;
    if (commit)
        statements[count++] = (struct db_statement){.sql = "COMMIT"};
    if (db->begin_pending)
        db->in_transaction = true;
    db->begin_pending = false;
    if (count == 1)
        results[0] = statements[0].name
                         ? PQexecPrepared(db->pg, statements[0].name, statements[0].param_count,
                                          statements[0].params, NULL, NULL, 0)
                         : PQexecParams(db->pg, statements[0].sql, statements[0].param_count, NULL,
                                        statements[0].params, NULL, NULL, 0);
    else
        exec_pipeline(db->pg, statements, count, results);
    forget_deferred(db);
    for (size_t i = 0; status == WR_OK && i < count; i++)
        if (!result_ok(results[i]))
            status = status_from_result(db, results[i], err);
    if (status == WR_OK && commit)
        db->in_transaction = false;
    for (size_t i = 0; i < count; i++)
        if (status != WR_OK || !sql || i != wanted)
            PQclear(results[i]);
    return status == WR_OK && sql ? hand_over(results[wanted], result, err) : status;
}

wr_status db_exec(struct db_conn *db, const char *sql, int param_count, const char *const *params,
                  struct db_result **result, struct wr_error *err)
{
    return run(db, sql, param_count, params, false, result, err);
}

wr_status db_exec_later(struct db_conn *db, const char *sql, int param_count,
                        const char *const *params, struct wr_error *err)
{
    if (!db->begin_pending && !db->in_transaction)
        return run(db, sql, param_count, params, false, NULL, err);
    if (db->deferred_count == DB_DEFERRED_MAX) {
        wr_status flushed = run(db, NULL, 0, NULL, false, NULL, err);
        if (flushed != WR_OK)
            return flushed;
    }
    struct db_deferred *d = &db->deferred[db->deferred_count];
    *d = (struct db_deferred){.sql = strdup(sql),
                              .params = calloc((size_t)param_count + 1, sizeof *d->params)};
    bool copied = d->sql && d->params;
    for (int p = 0; copied && p < param_count; p++, d->param_count++)
        copied = !params[p] || (d->params[p] = strdup(params[p]));
    db->deferred_count++; /* forget_deferred frees what was copied */
    return copied ? WR_OK : wr_error_set(err, WR_ERR_NOMEM, "out of memory");
}

size_t db_result_rows(const struct db_result *result)
{
    return (size_t)PQntuples(result->pg);
}

const char *db_result_value(const struct db_result *result, size_t row, int column)
{
    if (PQgetisnull(result->pg, (int)row, column))
        return NULL;
    return PQgetvalue(result->pg, (int)row, column);
}

unsigned char *db_result_bytes(const struct db_result *result, size_t row, int column,
                               size_t *len)
{
    const char *text = PQgetisnull(result->pg, (int)row, column)
                           ? "\\x"
                           : PQgetvalue(result->pg, (int)row, column);
    size_t decoded_len = 0;
    unsigned char *decoded = PQunescapeBytea((const unsigned char *)text, &decoded_len);
    unsigned char *out = decoded ? malloc(decoded_len + 1) : NULL;
    if (out) {
        memcpy(out, decoded, decoded_len);
        out[decoded_len] = '\0';
        *len = decoded_len;
    }
    PQfreemem(decoded);
    return out;
}

void db_result_free(struct db_result *result)
{
    if (!result)
        return;
    PQclear(result->pg);
    free(result);
}

/* Why BEGIN waits: a transaction's first round trip can carry it, which
 * saves a worker one of the few round trips each message's transaction
 * costs. */
wr_status db_begin(struct db_conn *db, struct wr_error *err)
{
    (void)err;
    db->begin_pending = true;
    return WR_OK;
}

wr_status db_commit(struct db_conn *db, struct wr_error *err)
{
    if (db->begin_pending && db->deferred_count == 0) {
        db->begin_pending = false; /* nothing was sent: nothing to commit */
        return WR_OK;
    }
    return run(db, NULL, 0, NULL, true, NULL, err);
}

wr_status db_exec_commit(struct db_conn *db, const char *sql, int param_count,
                         const char *const *params, struct db_result **result,
                         struct wr_error *err)
{
    return run(db, sql, param_count, params, true, result, err);
}

void db_rollback(struct db_conn *db)
{
    bool begun = db->in_transaction;
    db->begin_pending = false;
    db->in_transaction = false;
    forget_deferred(db);
    if (begun && db->pg && PQstatus(db->pg) == CONNECTION_OK)
        PQclear(PQexec(db->pg, "ROLLBACK"));
}

/* Simple-query execution for migration scripts (several statements, no
 * parameters; the SQL is a constant compiled into the program). */
static wr_status exec_script(struct db_conn *db, const char *sql, struct wr_error *err)
{
    wr_status status = db->begin_pending ? db_exec(db, "SELECT 1", 0, NULL, NULL, err) : WR_OK;
    if (status != WR_OK)
        return status;
    PGresult *res = PQexec(db->pg, sql);
    if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
                 PQresultStatus(res) != PGRES_TUPLES_OK))
        status = status_from_result(db, res, err);
    PQclear(res);
    return status;
}

static wr_status apply_migration(struct db_conn *db, const char *component,
                                 const struct db_migration *m, struct wr_error *err)
{
    char version[16];
    const char *params[] = {component, version};
    snprintf(version, sizeof version, "%d", m->version);
    wr_status status = exec_script(db, m->sql, err);
    if (status == WR_OK)
        status = db_exec(db,
                         "INSERT INTO schema_migrations (component, version) VALUES ($1, $2::int)",
                         2, params, NULL, err);
    return status;
}

wr_status db_migrate(struct db_conn *db, const char *component,
                     const struct db_migration *migrations, size_t count,
                     struct wr_error *err)
{
    const char *params[] = {component};
    struct db_result *res = NULL;
    wr_status status = db_begin(db, err);
    if (status != WR_OK)
        return status;
    /* one migrator at a time, taken before the table is even created so
     * processes starting together never race; the lock ends with the
     * transaction */
    status = db_exec(db, "SELECT pg_advisory_xact_lock(7274700)", 0, NULL, NULL, err);
    if (status == WR_OK)
        status = db_exec(db,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " component text NOT NULL,"
                         " version int NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now(),"
                         " PRIMARY KEY (component, version))",
                         0, NULL, NULL, err);
    if (status == WR_OK)
        status = db_exec(db,
                         "SELECT coalesce(max(version), 0) FROM schema_migrations"
                         " WHERE component = $1",
                         1, params, &res, err);
    int current = status == WR_OK ? (int)strtol(db_result_value(res, 0, 0), NULL, 10) : 0;
    for (size_t i = 0; status == WR_OK && i < count; i++) {
        if (migrations[i].version > current) {
            wr_log(WR_LOG_INFO, "db", "applying %s migration %d", component,
                   migrations[i].version);
            status = apply_migration(db, component, &migrations[i], err);
        }
    }
    db_result_free(res);
    if (status == WR_OK)
        return db_commit(db, err);
    db_rollback(db);
    return status;
}

struct db_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *url;
    size_t size;
    size_t idle_count;
    size_t opened; /* connections created so far (at most size) */
    struct db_conn **idle;
};

struct db_pool *db_pool_create(const char *url, size_t size)
{
    struct db_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->url = strdup(url);
    pool->idle = calloc(size ? size : 1, sizeof *pool->idle);
    if (!pool->url || !pool->idle) {
        free(pool->url);
        free(pool->idle);
        free(pool);
        return NULL;
    }
    pool->size = size ? size : 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    return pool;
}

void db_pool_free(struct db_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->idle_count; i++)
        db_close(pool->idle[i]);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    free(pool->url);
    free(pool);
}

struct db_conn *db_pool_acquire(struct db_pool *pool, struct wr_error *err)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->idle_count == 0 && pool->opened == pool->size)
        pthread_cond_wait(&pool->freed, &pool->lock);
    struct db_conn *db = pool->idle_count ? pool->idle[--pool->idle_count] : NULL;
    if (!db)
        pool->opened++; /* reserve the slot, connect outside the lock */
    pthread_mutex_unlock(&pool->lock);
    if (db)
        return db;
    db = db_open(pool->url, err);
    if (!db) {
        pthread_mutex_lock(&pool->lock);
        pool->opened--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
    }
    return db;
}

void db_pool_release(struct db_pool *pool, struct db_conn *db)
{
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->idle_count++] = db;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

/* ==== Pipelined batches (db_pipe_*) =======================================
 * A connection owned by one thread that sends a batch of statements in one
 * round trip and collects the answers as they arrive, never blocking on
 * the server: the thread sleeps in poll() on the socket instead. Kept apart
 * from db_exec and the pool above, which it does not touch.
 *
 * Why libpq's pipeline mode: the whole batch goes out before any answer is
 * read, and a single Sync at its end makes it one implicit transaction:
 * one commit (one WAL flush) for the lot. Statements are prepared on the
 * connection the first time it runs them and sent by name, as db_exec's
 * (prepare): for the API's keyed POSTs that was about a quarter more
 * throughput, the one backend behind the pipe being the bottleneck. The
 * connection stays in blocking mode; DB_PIPE_MAX_BATCH keeps a batch and
 * its answers well inside the socket buffers, so the writes never wait for
 * the server, which might itself be waiting for us to read. */

struct db_pipe {
    char *url;
    struct db_conn *conn; /* NULL until connected, and after it was lost */
    PGresult *results[DB_PIPE_MAX_BATCH];
    wr_status statuses[DB_PIPE_MAX_BATCH];
    size_t count;          /* statements of the batch in flight or completed */
    size_t received;       /* statements whose answer is complete */
    bool in_flight;        /* the batch's Sync has not come back yet */
    struct wr_error error; /* the batch's first failure */
};

struct db_pipe *db_pipe_create(const char *url)
{
    struct db_pipe *pipe = calloc(1, sizeof *pipe);
    if (pipe && !(pipe->url = strdup(url))) {
        free(pipe);
        pipe = NULL;
    }
    return pipe;
}

static void pipe_clear_results(struct db_pipe *pipe)
{
    for (size_t i = 0; i < pipe->count; i++) {
        PQclear(pipe->results[i]);
        pipe->results[i] = NULL;
    }
    pipe->count = pipe->received = 0;
    pipe->in_flight = false;
    wr_error_clear(&pipe->error);
}

/* Drops the connection; a batch in flight fails with code, all of it. */
static void pipe_drop(struct db_pipe *pipe, wr_status code, const char *why)
{
    wr_error_set(&pipe->error, code, "database: %s", why);
    for (size_t i = 0; pipe->in_flight && i < pipe->count; i++)
        pipe->statuses[i] = code;
    pipe->received = pipe->count;
    pipe->in_flight = false;
    db_close(pipe->conn);
    pipe->conn = NULL;
}

void db_pipe_close(struct db_pipe *pipe)
{
    if (!pipe)
        return;
    pipe_clear_results(pipe);
    db_close(pipe->conn);
    free(pipe->url);
    free(pipe);
}

bool db_pipe_connected(const struct db_pipe *pipe)
{
    return pipe->conn != NULL;
}

int db_pipe_socket(const struct db_pipe *pipe)
{
    return pipe->conn ? PQsocket(pipe->conn->pg) : -1;
}

wr_status db_pipe_send(struct db_pipe *pipe, const struct db_pipe_statement *statements,
                       size_t count, struct wr_error *err)
{
    if (count == 0 || count > DB_PIPE_MAX_BATCH || pipe->in_flight)
        return wr_error_set(err, WR_ERR_INVALID, "database: bad batch of %zu statements", count);
    pipe_clear_results(pipe);
    if (!pipe->conn && !(pipe->conn = db_open(pipe->url, err)))
        return err->code;
    PGconn *pg = pipe->conn->pg;
    struct db_statement named[DB_PIPE_MAX_BATCH];
    for (size_t i = 0; i < count; i++) {
        /* before the pipeline, as preparing waits for its answer; one the
         * server refuses runs unnamed and reports its error in the batch */
        const struct db_pipe_statement *st = &statements[i];
        struct wr_error ignored;
        (void)prepare(pipe->conn, st->sql, st->param_count, st->params, &named[i], &ignored);
    }
    bool sent = PQstatus(pg) == CONNECTION_OK && PQenterPipelineMode(pg);
    for (size_t i = 0; sent && i < count; i++) {
        pipe->statuses[i] = WR_OK;
        sent = send_statement(pg, &named[i]);
    }
    sent = sent && PQpipelineSync(pg);
    pipe->count = count;
    pipe->in_flight = true;
    if (!sent) {
        pipe_drop(pipe, WR_ERR_CONNECTION, PQerrorMessage(pg));
        *err = pipe->error;
        pipe_clear_results(pipe);
        return WR_ERR_CONNECTION;
    }
    return WR_OK;
}

/* One result of the batch: the statement's answer, the end of it (NULL),
 * or the Sync (the transaction's end: committed, or rolled back when a
 * statement failed). */
static void pipe_take(struct db_pipe *pipe, PGresult *res)
{
    if (!res) { /* the current statement is answered */
        pipe->received++;
        return;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
        PQclear(res);
        pipe->in_flight = false;
        for (size_t i = 0; pipe->error.code != WR_OK && i < pipe->count; i++)
            if (pipe->statuses[i] == WR_OK)
                pipe->statuses[i] = WR_ERR_RETRY; /* rolled back with the failed one */
        return;
    }
    size_t i = pipe->received;
    if (i >= pipe->count || pipe->results[i]) { /* a second result for one statement */
        PQclear(res);
        return;
    }
    pipe->results[i] = res;
    if (st == PGRES_PIPELINE_ABORTED) {
        pipe->statuses[i] = WR_ERR_RETRY;
    } else if (!result_ok(res)) {
        struct wr_error failed;
        pipe->statuses[i] = status_from_result(pipe->conn, res, &failed);
        if (pipe->error.code == WR_OK)
            pipe->error = failed;
    }
}

wr_status db_pipe_read(struct db_pipe *pipe, bool *complete, struct wr_error *err)
{
    *complete = !pipe->in_flight;
    if (*complete)
        return WR_OK;
    PGconn *pg = pipe->conn->pg;
    if (!PQconsumeInput(pg)) {
        pipe_drop(pipe, WR_ERR_CONNECTION, PQerrorMessage(pg));
        *complete = true;
        *err = pipe->error;
        return WR_ERR_CONNECTION;
    }
    while (pipe->in_flight && !PQisBusy(pg))
        pipe_take(pipe, PQgetResult(pg));
    if (!pipe->in_flight) {
        *complete = true;
        if (!PQexitPipelineMode(pg)) { /* answers beyond the batch: not a state to trust */
            pipe_drop(pipe, WR_ERR_CONNECTION, PQerrorMessage(pg));
            *err = pipe->error;
            return WR_ERR_CONNECTION;
        }
    } else if (PQstatus(pg) != CONNECTION_OK) {
        pipe_drop(pipe, WR_ERR_CONNECTION, PQerrorMessage(pg));
        *complete = true;
        *err = pipe->error;
        return WR_ERR_CONNECTION;
    }
    return WR_OK;
}

void db_pipe_abandon(struct db_pipe *pipe, const char *why)
{
    if (pipe->in_flight)
        pipe_drop(pipe, WR_ERR_TIMEOUT, why);
}

void db_pipe_idle_check(struct db_pipe *pipe)
{
    if (!pipe->conn || pipe->in_flight)
        return;
    PGconn *pg = pipe->conn->pg;
    if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
        wr_log(WR_LOG_INFO, "db", "a pipelined connection was closed: %s", PQerrorMessage(pg));
        db_close(pipe->conn);
        pipe->conn = NULL;
    }
}

wr_status db_pipe_result(struct db_pipe *pipe, size_t index, struct db_result **result,
                         struct wr_error *err)
{
    if (result)
        *result = NULL;
    if (index >= pipe->count || pipe->in_flight)
        return wr_error_set(err, WR_ERR_INVALID, "database: no result %zu", index);
    wr_status status = pipe->statuses[index];
    if (status == WR_ERR_RETRY)
        return wr_error_set(err, status, "database: rolled back with its batch (%s)",
                            pipe->error.message);
    if (status != WR_OK) {
        *err = pipe->error;
        err->code = status;
        return status;
    }
    PGresult *res = pipe->results[index];
    pipe->results[index] = NULL;
    return hand_over(res, result, err);
}
