/* The database side of tests (see db.h). */
#include "tests/support/db.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

struct db_conn *ts_db(const char *service)
{
    char url[256];
    struct wr_error err;
    struct db_conn *db = db_open(ts_db_url(service, url, sizeof url), &err);
    ck_assert_msg(db != NULL, "database %s: %s", service, err.message);
    return db;
}

/* Runs sql with p1 and p2 (each optional, p2 only after p1); asserts. */
static struct db_result *query(struct db_conn *db, const char *sql, const char *p1, const char *p2)
{
    struct db_result *res = NULL;
    struct wr_error err;
    const char *params[] = {p1, p2};
    wr_status status = db_exec(db, sql, p2 ? 2 : p1 ? 1 : 0, params, &res, &err);
    ck_assert_msg(status == WR_OK, "%s: %s", sql, err.message);
    return res;
}

long ts_db_number(struct db_conn *db, const char *sql, const char *p1, const char *p2)
{
    struct db_result *res = query(db, sql, p1, p2);
    long value = db_result_rows(res) && db_result_value(res, 0, 0)
                     ? strtol(db_result_value(res, 0, 0), NULL, 10)
                     : 0;
    db_result_free(res);
    return value;
}

char *ts_db_text(struct db_conn *db, const char *sql, const char *p1, const char *p2)
{
    struct db_result *res = query(db, sql, p1, p2);
    const char *value = db_result_rows(res) ? db_result_value(res, 0, 0) : NULL;
    char *copy = value ? strdup(value) : NULL;
    db_result_free(res);
    return copy;
}

long ts_db_wait(struct db_conn *db, const char *sql, const char *p1, const char *p2, long want,
                int timeout_ms)
{
    long value = ts_db_number(db, sql, p1, p2);
    for (int waited = 0; value != want && waited < timeout_ms; waited += 50) {
        ts_sleep_ms(50);
        value = ts_db_number(db, sql, p1, p2);
    }
    return value;
}
