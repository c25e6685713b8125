/* Integration tests of core/db.c against the local stack's PostgreSQL:
 * parameters, error mapping, transactions, deferred statements, prepared
 * statements across a lost connection, concurrent migrations and
 * pipelined batches. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/db.h"
#include "tests/support/support.h"

static char url[256];
static char table[64];

/* Everything this test creates lives in its own schema, so the real
 * services' schema_migrations in the same database are never touched. */
static struct db_conn *open_db(void)
{
    struct wr_error err;
    char base[200];
    ts_db_url("analytics", base, sizeof base);
    struct db_conn *db = db_open(base, &err);
    ck_assert_msg(db != NULL, "db_open: %s", err.message);
    ck_assert_int_eq(db_exec(db, "CREATE SCHEMA IF NOT EXISTS db_test", 0, NULL, NULL, &err),
                     WR_OK);
    db_close(db);
    snprintf(url, sizeof url, "%s?options=-c%%20search_path%%3Ddb_test", base);
    db = db_open(url, &err);
    ck_assert_msg(db != NULL, "db_open: %s", err.message);
    return db;
}

static void setup(void)
{
    char name[64];
    ts_unique_name("t", name, sizeof name);
    for (char *p = name; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(table, sizeof table, "%s", name);
}

static const struct db_migration migrations_v2[] = {
    {1, "CREATE TABLE IF NOT EXISTS db_test_items (id text PRIMARY KEY, note text)"},
    {2, "ALTER TABLE db_test_items ADD COLUMN IF NOT EXISTS n int NOT NULL DEFAULT 0"},
};

START_TEST(parameters_are_never_interpreted)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    struct db_result *res = NULL;
    const char *params[] = {"x'); DROP TABLE schema_migrations; --", NULL};
    ck_assert_int_eq(db_exec(db, "SELECT $1::text, $2::text IS NULL", 2, params, &res, &err),
                     WR_OK);
    ck_assert_int_eq(db_result_rows(res), 1);
    ck_assert_str_eq(db_result_value(res, 0, 0), params[0]);
    ck_assert_str_eq(db_result_value(res, 0, 1), "t");
    db_result_free(res);
    db_close(db);
}
END_TEST

START_TEST(unique_violation_is_conflict_and_rollback_undoes)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    char create[160];
    snprintf(create, sizeof create, "CREATE TEMP TABLE %s (id text PRIMARY KEY)", table);
    ck_assert_int_eq(db_exec(db, create, 0, NULL, NULL, &err), WR_OK);
    char insert[160];
    snprintf(insert, sizeof insert, "INSERT INTO %s VALUES ($1)", table);
    const char *params[] = {"a"};
    ck_assert_int_eq(db_exec(db, insert, 1, params, NULL, &err), WR_OK);
    ck_assert_int_eq(db_exec(db, insert, 1, params, NULL, &err), WR_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "23505"));

    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    const char *params_b[] = {"b"};
    ck_assert_int_eq(db_exec(db, insert, 1, params_b, NULL, &err), WR_OK);
    db_rollback(db);
    struct db_result *res = NULL;
    char count[160];
    snprintf(count, sizeof count, "SELECT count(*) FROM %s", table);
    ck_assert_int_eq(db_exec(db, count, 0, NULL, &res, &err), WR_OK);
    ck_assert_str_eq(db_result_value(res, 0, 0), "1");
    db_result_free(res);
    db_close(db);
}
END_TEST

START_TEST(migrations_apply_once_even_when_raced)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    ck_assert_int_eq(db_exec(db, "DROP TABLE IF EXISTS db_test_items", 0, NULL, NULL, &err),
                     WR_OK);
    ck_assert_int_eq(db_exec(db, "DELETE FROM schema_migrations WHERE component = 'db_test'", 0,
                             NULL, NULL, &err) == WR_OK ||
                         strstr(err.message, "42P01") != NULL,
                     1);
    pid_t children[4];
    for (int i = 0; i < 4; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            struct wr_error child_err;
            struct db_conn *child = db_open(url, &child_err);
            int ok = child && db_migrate(child, "db_test", migrations_v2, 2, &child_err) == WR_OK;
            db_close(child);
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < 4; i++) {
        int wstatus;
        ck_assert_int_eq(waitpid(children[i], &wstatus, 0), children[i]);
        ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "migrator %d failed", i);
    }
    struct db_result *res = NULL;
    ck_assert_int_eq(db_exec(db, "SELECT count(*) FROM schema_migrations WHERE component = 'db_test'",
                             0, NULL, &res, &err),
                     WR_OK);
    ck_assert_str_eq(db_result_value(res, 0, 0), "2");
    db_result_free(res);
    ck_assert_int_eq(db_migrate(db, "db_test", migrations_v2, 2, &err), WR_OK);
    ck_assert_int_eq(db_exec(db, "DROP TABLE db_test_items", 0, NULL, NULL, &err), WR_OK);
    ck_assert_int_eq(db_exec(db, "DELETE FROM schema_migrations WHERE component = 'db_test'", 0,
                             NULL, NULL, &err),
                     WR_OK);
    db_close(db);
}
END_TEST

START_TEST(bad_password_is_clear_and_secret_free)
{
    struct wr_error err;
    char bad[256];
    snprintf(bad, sizeof bad, "postgresql://warren:not-the-password@127.0.0.1:%s/warren_order",
             getenv("WARREN_PG_PORT") ? getenv("WARREN_PG_PORT") : "5442");
    ck_assert_ptr_null(db_open(bad, &err));
    ck_assert_int_eq(err.code, WR_ERR_CONNECTION);
    ck_assert_ptr_nonnull(strstr(err.message, "password authentication failed"));
    ck_assert_ptr_null(strstr(err.message, "not-the-password"));
}
END_TEST

/* Sleeps in poll() until the pipe's batch is answered. */
static void wait_batch(struct db_pipe *pipe)
{
    struct wr_error err;
    for (bool complete = false; !complete;) {
        struct pollfd fd = {.fd = db_pipe_socket(pipe), .events = POLLIN};
        ck_assert_int_ge(poll(&fd, 1, 5000), 1);
        ck_assert_msg(db_pipe_read(pipe, &complete, &err) == WR_OK, "%s", err.message);
    }
}

START_TEST(pipelined_batch_is_one_transaction)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    char sql[3][160];
    snprintf(sql[0], sizeof sql[0], "CREATE TABLE %s (id text PRIMARY KEY)", table);
    ck_assert_int_eq(db_exec(db, sql[0], 0, NULL, NULL, &err), WR_OK);
    snprintf(sql[1], sizeof sql[1], "INSERT INTO %s VALUES ($1)", table);
    snprintf(sql[2], sizeof sql[2], "SELECT count(*) FROM %s", table);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"};
    struct db_pipe *pipe = db_pipe_create(url);
    ck_assert_ptr_nonnull(pipe);
    const struct db_pipe_statement ok[] = {{sql[1], 1, a}, {sql[1], 1, b}, {sql[2], 0, NULL}};
    ck_assert_msg(db_pipe_send(pipe, ok, 3, &err) == WR_OK, "%s", err.message);
    wait_batch(pipe);
    struct db_result *res = NULL;
    ck_assert_int_eq(db_pipe_result(pipe, 0, NULL, &err), WR_OK);
    ck_assert_int_eq(db_pipe_result(pipe, 1, NULL, &err), WR_OK);
    ck_assert_int_eq(db_pipe_result(pipe, 2, &res, &err), WR_OK);
    ck_assert_str_eq(db_result_value(res, 0, 0), "2");
    db_result_free(res);

    /* one failure rolls the whole batch back */
    const struct db_pipe_statement failing[] = {{sql[1], 1, c}, {sql[1], 1, a}, {sql[2], 0, NULL}};
    ck_assert_int_eq(db_pipe_send(pipe, failing, 3, &err), WR_OK);
    wait_batch(pipe);
    ck_assert_int_eq(db_pipe_result(pipe, 0, NULL, &err), WR_ERR_RETRY);
    ck_assert_int_eq(db_pipe_result(pipe, 1, NULL, &err), WR_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "23505"));
    ck_assert_int_eq(db_pipe_result(pipe, 2, NULL, &err), WR_ERR_RETRY);
    ck_assert_int_eq(db_exec(db, sql[2], 0, NULL, &res, &err), WR_OK);
    ck_assert_str_eq(db_result_value(res, 0, 0), "2");
    db_result_free(res);

    /* a connection the server closes while idle is noticed and replaced */
    const struct db_pipe_statement who[] = {{"SELECT pg_backend_pid()::text", 0, NULL}};
    ck_assert_int_eq(db_pipe_send(pipe, who, 1, &err), WR_OK);
    wait_batch(pipe);
    ck_assert_int_eq(db_pipe_result(pipe, 0, &res, &err), WR_OK);
    const char *pid[] = {db_result_value(res, 0, 0)};
    ck_assert_int_eq(db_exec(db, "SELECT pg_terminate_backend($1::int)", 1, pid, NULL, &err),
                     WR_OK);
    db_result_free(res);
    /* (the server's FATAL message and the end of the stream may take two reads) */
    for (int reads = 0; db_pipe_connected(pipe) && reads < 10; reads++) {
        struct pollfd fd = {.fd = db_pipe_socket(pipe), .events = POLLIN};
        ck_assert_int_eq(poll(&fd, 1, 5000), 1);
        db_pipe_idle_check(pipe);
    }
    ck_assert(!db_pipe_connected(pipe));
    ck_assert_int_eq(db_pipe_send(pipe, ok + 2, 1, &err), WR_OK);
    wait_batch(pipe);
    ck_assert_int_eq(db_pipe_result(pipe, 0, NULL, &err), WR_OK);
    db_pipe_close(pipe);
    snprintf(sql[0], sizeof sql[0], "DROP TABLE %s", table);
    ck_assert_int_eq(db_exec(db, sql[0], 0, NULL, NULL, &err), WR_OK);
    db_close(db);
}
END_TEST

/* count(*) of the test's table, read on db. */
static long count_rows(struct db_conn *db)
{
    struct wr_error err;
    struct db_result *res = NULL;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    ck_assert_msg(db_exec(db, sql, 0, NULL, &res, &err) == WR_OK, "%s", err.message);
    long n = strtol(db_result_value(res, 0, 0), NULL, 10);
    db_result_free(res);
    return n;
}

START_TEST(deferred_statements_go_with_the_next_round_trip)
{
    struct db_conn *db = open_db(), *other = open_db();
    struct wr_error err;
    char create[160], insert[160];
    snprintf(create, sizeof create, "CREATE TABLE %s (id text PRIMARY KEY)", table);
    ck_assert_int_eq(db_exec(db, create, 0, NULL, NULL, &err), WR_OK);
    snprintf(insert, sizeof insert, "INSERT INTO %s VALUES ($1)", table);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"}, *d[] = {"d"};

    /* queued, not sent: nothing reaches the server until the commit */
    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    ck_assert_int_eq(db_exec_later(db, insert, 1, a, &err), WR_OK);
    ck_assert_int_eq(db_exec_later(db, insert, 1, b, &err), WR_OK);
    ck_assert_int_eq(count_rows(other), 0);
    ck_assert_int_eq(db_commit(db, &err), WR_OK);
    ck_assert_int_eq(count_rows(other), 2);

    /* a statement of the transaction sends the queue first and sees it */
    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    ck_assert_int_eq(db_exec_later(db, insert, 1, c, &err), WR_OK);
    ck_assert_int_eq(count_rows(db), 3);
    ck_assert_int_eq(count_rows(other), 2);
    db_rollback(db);
    ck_assert_int_eq(count_rows(other), 2);

    /* a queued statement's failure is the commit's, and nothing commits */
    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    ck_assert_int_eq(db_exec_later(db, insert, 1, d, &err), WR_OK);
    ck_assert_int_eq(db_exec_later(db, insert, 1, a, &err), WR_OK);
    ck_assert_int_eq(db_commit(db, &err), WR_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "23505"));
    db_rollback(db);
    ck_assert_int_eq(count_rows(other), 2);

    /* rolled back before it was sent: never reaches the server */
    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    ck_assert_int_eq(db_exec_later(db, insert, 1, d, &err), WR_OK);
    db_rollback(db);
    ck_assert_int_eq(count_rows(db), 2);

    /* more than the queue holds, then a last statement with the commit */
    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    char ids[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof ids[i], "n%d", i);
        const char *id[] = {ids[i]};
        ck_assert_int_eq(db_exec_later(db, insert, 1, id, &err), WR_OK);
    }
    ck_assert_int_eq(db_exec_commit(db, insert, 1, d, NULL, &err), WR_OK);
    ck_assert_int_eq(count_rows(other), 43);
    snprintf(create, sizeof create, "DROP TABLE %s", table);
    ck_assert_int_eq(db_exec(db, create, 0, NULL, NULL, &err), WR_OK);
    db_close(other);
    db_close(db);
}
END_TEST

/* Terminates db's server process from another connection. */
static void kill_backend(struct db_conn *db)
{
    struct wr_error err;
    struct db_result *res = NULL;
    struct db_conn *other = open_db();
    ck_assert_int_eq(db_exec(db, "SELECT pg_backend_pid()::text", 0, NULL, &res, &err), WR_OK);
    const char *pid[] = {db_result_value(res, 0, 0)};
    ck_assert_int_eq(db_exec(other, "SELECT pg_terminate_backend($1::int)", 1, pid, NULL, &err),
                     WR_OK);
    db_result_free(res);
    db_close(other);
}

START_TEST(lost_connection_prepares_again_and_never_splits_a_transaction)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    char create[160], insert[160];
    snprintf(create, sizeof create, "CREATE TABLE %s (id text PRIMARY KEY)", table);
    ck_assert_int_eq(db_exec(db, create, 0, NULL, NULL, &err), WR_OK);
    snprintf(insert, sizeof insert, "INSERT INTO %s VALUES ($1)", table);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"};
    ck_assert_int_eq(db_exec(db, insert, 1, a, NULL, &err), WR_OK); /* now prepared */

    /* outside a transaction: the call that meets the dead link fails, the
     * next reconnects and prepares its statement on the new session */
    kill_backend(db);
    ck_assert_int_eq(db_exec(db, insert, 1, b, NULL, &err), WR_ERR_CONNECTION);
    ck_assert_int_eq(db_exec(db, insert, 1, b, NULL, &err), WR_OK);
    ck_assert_int_eq(count_rows(db), 2);

    /* inside one: every later statement fails until the rollback, so no
     * part of the transaction runs on its own on a new session */
    ck_assert_int_eq(db_begin(db, &err), WR_OK);
    ck_assert_int_eq(db_exec(db, insert, 1, c, NULL, &err), WR_OK);
    kill_backend(db);
    ck_assert_int_eq(db_exec(db, insert, 1, c, NULL, &err), WR_ERR_CONNECTION);
    ck_assert_int_eq(db_exec_commit(db, insert, 1, c, NULL, &err), WR_ERR_CONNECTION);
    ck_assert_ptr_nonnull(strstr(err.message, "inside the transaction"));
    db_rollback(db);
    ck_assert_int_eq(count_rows(db), 2);
    snprintf(create, sizeof create, "DROP TABLE %s", table);
    ck_assert_int_eq(db_exec(db, create, 0, NULL, NULL, &err), WR_OK);
    db_close(db);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("db");
    TCase *tc = tcase_create("db");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, parameters_are_never_interpreted);
    tcase_add_test(tc, unique_violation_is_conflict_and_rollback_undoes);
    tcase_add_test(tc, migrations_apply_once_even_when_raced);
    tcase_add_test(tc, bad_password_is_clear_and_secret_free);
    tcase_add_test(tc, pipelined_batch_is_one_transaction);
    tcase_add_test(tc, deferred_statements_go_with_the_next_round_trip);
    tcase_add_test(tc, lost_connection_prepares_again_and_never_splits_a_transaction);
    suite_add_tcase(suite, tc);
    return ts_run_suite(suite);
}
