/* The database side of tests (over core/db.h): a connection to a service's
 * database on the stack, one number or text out of a query, and polling a
 * number until it has the value a test waits for. Every function asserts
 * on a database error. */
#ifndef WARREN_TESTS_SUPPORT_DB_H
#define WARREN_TESTS_SUPPORT_DB_H

#include "core/db.h"

/* A connection to the stack's database of service ("order", ..., "api");
 * close it with db_close. */
struct db_conn *ts_db(const char *service);

/* The first cell of sql (with up to two text parameters: p1, p2 or NULL)
 * as a number; 0 when there is no row or it is NULL. */
long ts_db_number(struct db_conn *db, const char *sql, const char *p1, const char *p2);

/* The first cell of sql (with up to two parameters) as text, or NULL when
 * there is no row or it is NULL. The caller frees it. */
char *ts_db_text(struct db_conn *db, const char *sql, const char *p1, const char *p2);

/* Polls ts_db_number every 50 ms until it equals want or timeout_ms
 * passes; returns the last value. */
long ts_db_wait(struct db_conn *db, const char *sql, const char *p1, const char *p2, long want,
                int timeout_ms);

#endif
