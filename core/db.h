/* The one database module: every service reaches PostgreSQL through these
 * few functions, so PGconn/PGresult never leave core/db.c. Statements are
 * always parameterised (the text is a constant, values travel apart from
 * it); each connection prepares a statement on the server the first time
 * it runs it and executes it by name afterwards (PQprepare and
 * PQexecPrepared: the same parameters as PQexecParams without parsing the
 * text on every call). Text in, text out. Behind a pooler in transaction
 * mode (pgbouncer) named statements need its prepared-statement support. */
#ifndef WARREN_CORE_DB_H
#define WARREN_CORE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

struct db_conn;
struct db_result;

/* Connects to url (postgresql://user:pass@host:port/db; libpq's default
 * gssencmode "prefer" becomes "disable" unless the URL sets gssencmode,
 * see db.c). NULL on failure
 * with err set (the URL's password never appears in err). Free with
 * db_close(). */
struct db_conn *db_open(const char *url, struct wr_error *err);
void db_close(struct db_conn *db);

/* Runs sql with params ($1..$n, NULL entries are SQL NULL). On WR_OK and
 * result != NULL, *result holds the rows (free with db_result_free). Errors:
 * WR_ERR_CONFLICT for a unique violation (SQLSTATE 23505), WR_ERR_RETRY for
 * a serialization failure or deadlock (40001/40P01), WR_ERR_CONNECTION when
 * the server is gone (the next call reconnects), WR_ERR_IO otherwise; the
 * message has SQLSTATE and text. */
wr_status db_exec(struct db_conn *db, const char *sql, int param_count, const char *const *params,
                  struct db_result **result, struct wr_error *err) WR_MUST_CHECK;

size_t db_result_rows(const struct db_result *result);
/* Text of a cell, or NULL for SQL NULL. Owned by result. */
const char *db_result_value(const struct db_result *result, size_t row, int column);
/* A bytea cell's bytes (SQL NULL: none), malloc'd with a NUL after *len
 * bytes; NULL when out of memory. */
unsigned char *db_result_bytes(const struct db_result *result, size_t row, int column,
                               size_t *len);
void db_result_free(struct db_result *result);

/* BEGIN / COMMIT / ROLLBACK (rollback is best effort and never fails).
 * db_begin sends nothing: BEGIN goes with the transaction's next statement
 * in one round trip, so it cannot fail itself; a transaction with no
 * statement commits and rolls back without a word to the server. */
wr_status db_begin(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;
wr_status db_commit(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;
void db_rollback(struct db_conn *db);

/* Runs sql (as db_exec) and then COMMIT, in one round trip: for a
 * transaction's last statement. WR_OK only when both succeeded (*result
 * then holds sql's rows); on failure nothing is committed and the caller
 * rolls back. */
wr_status db_exec_commit(struct db_conn *db, const char *sql, int param_count,
                         const char *const *params, struct db_result **result,
                         struct wr_error *err) WR_MUST_CHECK;

/* Queues sql (as db_exec, without rows) to go with the transaction's
 * next round trip: the next db_exec, db_exec_commit or db_commit sends the
 * queued statements ahead of its own, in one pipeline. For writes whose
 * result the caller does not read; their failure is reported by that next
 * call (and fails the transaction). sql and params are copied. Outside a
 * transaction it runs at once. */
wr_status db_exec_later(struct db_conn *db, const char *sql, int param_count,
                        const char *const *params, struct wr_error *err) WR_MUST_CHECK;

/* A fixed set of connections shared by threads. Connections are opened
 * lazily, so a pool can be created while the database is down. */
struct db_pool;

/* NULL when out of memory. Free with db_pool_free() once no connection is
 * acquired. */
struct db_pool *db_pool_create(const char *url, size_t size);
void db_pool_free(struct db_pool *pool);

/* Waits for a free connection and returns it, connected; NULL with err set
 * when connecting failed. Give it back with db_pool_release(). */
struct db_conn *db_pool_acquire(struct db_pool *pool, struct wr_error *err);
void db_pool_release(struct db_pool *pool, struct db_conn *db);

/* One versioned migration: version numbers rise from 1 with no gaps. */
struct db_migration {
    int version;
    const char *sql; /* may hold several statements; no parameters */
};

/* Applies, in one transaction and under an advisory lock (so several
 * processes starting at once are safe), every migration of component
 * ("api", "runtime", "order", ...) newer than the version recorded for it
 * in the table schema_migrations. Several components can share a database. */
wr_status db_migrate(struct db_conn *db, const char *component,
                     const struct db_migration *migrations, size_t count,
                     struct wr_error *err) WR_MUST_CHECK;

/* ==== Pipelined batches ================================================
 * A connection owned by one thread that sends many statements in one round
 * trip (libpq pipeline mode) and sleeps in poll() on db_pipe_socket() while
 * the server works, instead of blocking in a call per statement. Used by
 * the intake API's Idempotency-Key thread (api/idem_queue.c). */

/* One statement of a batch; sql and params are borrowed until the batch
 * has been sent. */
struct db_pipe_statement {
    const char *sql;
    int param_count;
    const char *const *params;
};

struct db_pipe;

/* At most this many statements per batch: their answers fit the socket
 * buffers, so sending never waits for the server to be read. */
#define DB_PIPE_MAX_BATCH 256

/* NULL when out of memory. Connects at the first db_pipe_send (and again
 * after the connection was lost). Free with db_pipe_close(). */
struct db_pipe *db_pipe_create(const char *url);
void db_pipe_close(struct db_pipe *pipe);

/* True while the pipe holds a connection (it may still turn out dead). */
bool db_pipe_connected(const struct db_pipe *pipe);

/* The connection's socket, to poll() for POLLIN; -1 without a connection. */
int db_pipe_socket(const struct db_pipe *pipe);

/* Sends count (1..DB_PIPE_MAX_BATCH) statements without waiting for them,
 * to run as one transaction: one commit for all; if one fails, none takes
 * effect. The previous batch's results are freed. Connects first when
 * needed. On failure (WR_ERR_CONNECTION with err set) nothing is in flight
 * and the connection is dropped. */
wr_status db_pipe_send(struct db_pipe *pipe, const struct db_pipe_statement *statements,
                       size_t count, struct wr_error *err) WR_MUST_CHECK;

/* Reads what the server has sent so far, never blocking; *complete is true
 * once every statement of the batch in flight is answered (or failed with
 * the connection, which is then dropped: WR_ERR_CONNECTION, err set).
 * Call when db_pipe_socket() is readable. */
wr_status db_pipe_read(struct db_pipe *pipe, bool *complete, struct wr_error *err) WR_MUST_CHECK;

/* Gives up on the batch in flight (a timeout): drops the connection; every
 * statement of it fails with WR_ERR_TIMEOUT and why (whether the server
 * committed it is unknown). */
void db_pipe_abandon(struct db_pipe *pipe, const char *why);

/* While idle: reads what a server sent unasked (notices, or the end of a
 * connection it closed) and drops a dead connection, so the next batch
 * reconnects instead of failing. */
void db_pipe_idle_check(struct db_pipe *pipe);

/* The outcome of statement index of the completed batch: WR_OK (with
 * *result, if result is not NULL, holding its rows: free with
 * db_result_free), or its error as db_exec maps it. When one statement
 * failed, the others give WR_ERR_RETRY (they were rolled back with it).
 * Each index may be taken once. */
wr_status db_pipe_result(struct db_pipe *pipe, size_t index, struct db_result **result,
                         struct wr_error *err) WR_MUST_CHECK;

#endif
