/* The one database module: every service reaches PostgreSQL through these
 * few functions, so PGconn/PGresult never leave core/db.c. Statements are
 * always parameterised (PQexecParams); text in, text out. */
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

#endif
