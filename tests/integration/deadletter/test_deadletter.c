/* Integration tests of the deadletter service and `warrenctl dlq list|show|
 * stats` against the real stack: dead letters carrying the runtime's
 * headers, published to "<queue>.dead" keys of a world queue that a
 * warren-worker --service deadletter consumes, are stored once with every
 * field (a redelivered copy too); list filters, show, stats, --json and the
 * exit codes; retention purging old replayed and discarded records only. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/programs.h"
#include "tests/support/support.h"

static struct ts_world world;
static pid_t worker;
static unsigned consumers;

/* The world's topology gets a queue for the deadletter service bound to
 * "#.dead" of the world's exchange (the real topology has none yet). */
static void add_deadletter_queue(void)
{
    FILE *out = fopen(world.topology, "a");
    ck_assert_ptr_nonnull(out);
    fprintf(out,
            "  - name: %s-deadletter\n    type: quorum\n    service: deadletter\n"
            "    prefetch: 50\n    retry: {max_attempts: 3, delays: [1s]}\n"
            "    bindings:\n      - {exchange: %s, routing_key: \"#.dead\"}\n",
            world.prefix, world.prefix);
    fclose(out);
    ts_ctl_apply_topology(world.topology);
}

static void setup(void)
{
    char queue[160];
    ts_world_create(&world, "analytics", NULL);
    add_deadletter_queue();
    worker = ts_worker_start(&world, "deadletter", NULL);
    consumers = ts_wait_consumers(ts_world_queue(&world, "deadletter", "", queue, sizeof queue), 1);
}

static void teardown(void)
{
    int status = ts_worker_stop(worker);
    ts_world_destroy(&world);
    ck_assert_int_eq(status, 0);
}

/* ---- dead letters as the runtime writes them ------------------------------------------ */

struct dead {
    const char *dead_queue; /* "<queue>.dead": the routing key */
    const char *type;
    const char *order_id;
    char message_id[37];
    int attempts;
    const char *first_error, *last_error;
    char first_failed_at[32], dead_at[32];
};

static void utc_ago(long seconds, char *out, size_t size)
{
    time_t t = time(NULL) - seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void on_confirm(void *ctx, wr_status result, const struct wr_error *detail, void *user)
{
    (void)ctx;
    (void)detail;
    *(int *)user += result != WR_OK;
}

static void publish_dead(const struct dead *d, int copies)
{
    struct wr_error err;
    int failed = 0;
    struct mq_publisher_options options = {.on_confirm = on_confirm, .user = &failed};
    struct mq_conn *conn = ts_broker_connect("warren-test-dead");
    struct mq_publisher *pub = mq_publisher_create(conn, &options, &err);
    ck_assert_msg(pub != NULL, "%s", err.message);
    char body[160];
    snprintf(body, sizeof body, "{\"order_id\":\"%s\",\"sku\":\"TEE-RED-M\",\"quantity\":2}",
             d->order_id);
    struct mq_header h[] = {
        {.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = d->attempts},
        {.key = "x-storefront", .kind = MQ_HEADER_STRING, .string = "shop-a"},
        {.key = "x-last-error", .kind = MQ_HEADER_STRING, .string = d->last_error},
        {.key = "x-first-error", .kind = MQ_HEADER_STRING, .string = d->first_error},
        {.key = "x-first-failed-at", .kind = MQ_HEADER_STRING, .string = d->first_failed_at},
        {.key = "x-original-exchange", .kind = MQ_HEADER_STRING, .string = "orders"},
        {.key = "x-original-routing-key", .kind = MQ_HEADER_STRING, .string = d->type},
        {.key = "x-dead-reason", .kind = MQ_HEADER_STRING, .string = d->last_error},
        {.key = "x-dead-at", .kind = MQ_HEADER_STRING, .string = d->dead_at},
    };
    struct mq_message msg = {
        .exchange = world.prefix,
        .routing_key = d->dead_queue,
        .body = body,
        .body_len = strlen(body),
        .message_id = d->message_id,
        .correlation_id = d->order_id,
        .type = d->type,
        .content_type = "application/json",
        .timestamp = time(NULL),
        .persistent = true,
        .headers = h,
        .header_count = sizeof h / sizeof h[0],
    };
    for (int i = 0; i < copies; i++)
        ck_assert_msg(mq_publish(pub, &msg, NULL, &err) == WR_OK, "%s", err.message);
    ck_assert_msg(mq_publisher_flush(pub, 10000, &err) == WR_OK, "%s", err.message);
    ck_assert_int_eq(failed, 0);
    mq_publisher_destroy(pub);
    mq_conn_close(conn);
}

static struct dead make_dead(const char *dead_queue, const char *type, const char *order_id,
                             const char *last_error, long dead_ago_s)
{
    struct dead d = {.dead_queue = dead_queue,
                     .type = type,
                     .order_id = order_id,
                     .attempts = 5,
                     .first_error = "inventory database: timeout",
                     .last_error = last_error};
    ts_uuid(d.message_id);
    utc_ago(dead_ago_s + 600, d.first_failed_at, sizeof d.first_failed_at);
    utc_ago(dead_ago_s, d.dead_at, sizeof d.dead_at);
    return d;
}

/* Waits until the record of d is stored; returns its id. */
static long wait_stored(struct db_conn *db, const struct dead *d)
{
    static const char sql[] = "SELECT count(*) FROM dead_letters WHERE message_id = $1";
    ck_assert_int_eq(ts_db_wait(db, sql, d->message_id, NULL, 1, 15000), 1);
    return ts_db_number(db, "SELECT id FROM dead_letters WHERE message_id = $1", d->message_id,
                        NULL);
}

/* ---- warrenctl ------------------------------------------------------------------------ */

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    ck_assert_msg(v != NULL, "no string %s", key);
    return v;
}

static void assert_record(const json_t *r, const struct dead *d, const char *queue)
{
    ck_assert_str_eq(str(r, "status"), "dead");
    ck_assert_str_eq(str(r, "queue"), queue);
    ck_assert_str_eq(str(r, "dead_queue"), d->dead_queue);
    ck_assert_str_eq(str(r, "exchange"), "orders");
    ck_assert_str_eq(str(r, "routing_key"), d->type);
    ck_assert_str_eq(str(r, "message_id"), d->message_id);
    ck_assert_str_eq(str(r, "type"), d->type);
    ck_assert_str_eq(str(r, "correlation_id"), d->order_id);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "attempts")), d->attempts);
    ck_assert_str_eq(str(r, "first_error"), d->first_error);
    ck_assert_str_eq(str(r, "last_error"), d->last_error);
    /* the store answers with milliseconds: "...:56.000Z" */
    ck_assert_int_eq(strncmp(str(r, "first_failed_at"), d->first_failed_at, 19), 0);
    ck_assert_int_eq(strncmp(str(r, "dead_at"), d->dead_at, 19), 0);
    ck_assert_ptr_nonnull(strstr(str(r, "body"), d->order_id));
    const json_t *headers = json_object_get(r, "headers");
    ck_assert_str_eq(str(headers, "x-storefront"), "shop-a");
    ck_assert_str_eq(str(headers, "x-dead-reason"), d->last_error);
    ck_assert_int_eq(json_integer_value(json_object_get(headers, "x-attempt")), d->attempts);
    ck_assert(json_is_null(json_object_get(r, "replayed_at")));
    ck_assert(json_is_null(json_object_get(r, "discarded_at")));
    ck_assert(json_is_null(json_object_get(r, "previous_id")));
}

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(test_stored_once_with_every_field)
{
    char dead_queue[160], queue[160], order_id[37], id[32];
    ck_assert_uint_eq(consumers, 1);
    ts_world_queue(&world, "inventory", "", queue, sizeof queue);
    ts_world_queue(&world, "inventory", ".dead", dead_queue, sizeof dead_queue);
    ts_uuid(order_id);
    struct dead d = make_dead(dead_queue, "inventory.reserve", order_id,
                              "inventory database: connection refused", 5);
    publish_dead(&d, 3); /* the same message three times: a redelivered dead letter */
    struct dead last = make_dead(dead_queue, "inventory.release", order_id, "boom", 1);
    publish_dead(&last, 1);
    struct db_conn *db = ts_db("deadletter");
    long stored = wait_stored(db, &d);
    (void)wait_stored(db, &last); /* taken in order: every copy of d was handled */
    ck_assert_int_eq(ts_db_number(db, "SELECT count(*) FROM dead_letters WHERE message_id = $1",
                                  d.message_id, NULL),
                     1);
    snprintf(id, sizeof id, "%ld", stored);
    const char *const show[] = {"dlq", "show", id, "--json", NULL};
    json_t *record = ts_ctl_json(show);
    assert_record(record, &d, queue);
    json_decref(record);

    struct ts_ctl_run run;
    const char *const text[] = {"dlq", "show", id, NULL};
    ts_ctl(&run, text);
    ck_assert_int_eq(run.status, 0);
    ck_assert_msg(strstr(run.out, "\"quantity\": 2"), "body not pretty-printed:\n%s", run.out);
    ck_assert_msg(strstr(run.out, d.message_id), "%s", run.out);
    ts_ctl_free(&run);
    db_close(db);
}
END_TEST

/* The records of a `dlq list --json` answer (a new reference). */
static json_t *list_rows(const char *const *args)
{
    json_t *page = ts_ctl_json(args);
    json_t *rows = json_incref(json_object_get(page, "dead_letters"));
    ck_assert(json_is_array(rows));
    ck_assert_int_eq(json_integer_value(json_object_get(page, "total")),
                     (json_int_t)json_array_size(rows));
    json_decref(page);
    return rows;
}

static size_t list_count(const char *const *args)
{
    json_t *rows = list_rows(args);
    size_t n = json_array_size(rows);
    json_decref(rows);
    return n;
}

START_TEST(test_list_filters_stats_and_usage)
{
    char dead_queue[160], queue[160], a_order[37], b_order[37];
    ts_world_queue(&world, "payment", "", queue, sizeof queue);
    ts_world_queue(&world, "payment", ".dead", dead_queue, sizeof dead_queue);
    ts_uuid(a_order);
    ts_uuid(b_order);
    struct dead old = make_dead(dead_queue, "payment.charge", a_order, "card 4242: timeout", 7200);
    struct dead recent =
        make_dead(dead_queue, "payment.refund", b_order, "gateway answered 503", 60);
    publish_dead(&old, 1);
    publish_dead(&recent, 1);
    struct db_conn *db = ts_db("deadletter");
    (void)wait_stored(db, &old);
    (void)wait_stored(db, &recent);
    db_close(db);

    const char *const all[] = {"dlq", "list", "--queue", queue, "--json", NULL};
    json_t *rows = list_rows(all);
    ck_assert_int_eq(json_array_size(rows), 2);
    ck_assert_str_eq(str(json_array_get(rows, 0), "correlation_id"), b_order); /* newest first */
    ck_assert_str_eq(str(json_array_get(rows, 1), "correlation_id"), a_order);
    json_decref(rows);
    const char *const since[] = {"dlq", "list", "--queue", queue, "--since", "1h", "--json", NULL};
    ck_assert_uint_eq(list_count(since), 1);
    const char *const until[] = {"dlq",        "list",   "--queue", dead_queue,
                                 "--until=1h", "--json", NULL};
    ck_assert_uint_eq(list_count(until), 1);
    const char *const error[] = {"dlq",     "list",         "--queue", queue,
                                 "--error", "ANSWERED 503", "--json",  NULL};
    ck_assert_uint_eq(list_count(error), 1);
    const char *const type[] = {"dlq",    "list",           "--queue", queue,
                                "--type", "payment.charge", "--json",  NULL};
    ck_assert_uint_eq(list_count(type), 1);
    const char *const discarded[] = {"dlq",      "list",      "--queue", queue,
                                     "--status", "discarded", "--json",  NULL};
    ck_assert_uint_eq(list_count(discarded), 0);

    struct ts_ctl_run run;
    const char *const table[] = {"dlq", "list", "--queue", queue, NULL};
    ts_ctl(&run, table);
    ck_assert_int_eq(run.status, 0);
    ck_assert_msg(strstr(run.out, "LAST ERROR") && strstr(run.out, "payment.refund") &&
                      strstr(run.out, "2 of 2 dead letters"),
                  "%s", run.out);
    ts_ctl_free(&run);

    const char *const stats[] = {"dlq", "stats", "--json", NULL};
    json_t *counts = ts_ctl_json(stats);
    size_t i;
    json_t *group;
    long found = 0;
    json_array_foreach(json_object_get(counts, "by_queue"), i,
                       group) if (strcmp(str(group, "queue"), queue) == 0) found =
        (long)json_integer_value(json_object_get(group, "count"));
    ck_assert_int_eq(found, 2);
    ck_assert(json_is_array(json_object_get(counts, "by_type")));
    ck_assert(json_is_array(json_object_get(counts, "by_error")));
    json_decref(counts);
    const char *const stats_text[] = {"dlq", "stats", NULL};
    ts_ctl(&run, stats_text);
    ck_assert_msg(run.status == 0 && strstr(run.out, queue), "%s", run.out);
    ts_ctl_free(&run);
}
END_TEST

START_TEST(test_exit_codes)
{
    static const struct {
        const char *args[6];
        int status;
    } cases[] = {
        {{"dlq", NULL}, 2},
        {{"dlq", "bogus", NULL}, 2},
        {{"dlq", "--help", NULL}, 0},
        {{"dlq", "list", "--help", NULL}, 0},
        {{"dlq", "list", "--status", "gone", NULL}, 2},
        {{"dlq", "list", "--since", "yesterday", NULL}, 2},
        {{"dlq", "list", "--queue", NULL}, 2},
        {{"dlq", "list", "--bogus", NULL}, 2},
        {{"dlq", "show", NULL}, 2},
        {{"dlq", "show", "abc", NULL}, 2},
        {{"dlq", "show", "999999999999", NULL}, 1},
        {{"dlq", "stats", "extra", NULL}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_ctl_run run;
        ts_ctl(&run, cases[i].args);
        ck_assert_msg(run.status == cases[i].status, "case %zu: exit %d, want %d\n%s%s", i,
                      run.status, cases[i].status, run.out, run.err);
        ts_ctl_free(&run);
    }
}
END_TEST

START_TEST(test_retention_purges_old_replayed_and_discarded_records_only)
{
    char queue[160];
    struct wr_error err;
    ts_unique_name("it-retention", queue, sizeof queue);
    struct db_conn *db = ts_db("deadletter");
    const char *params[] = {queue};
    /* per status: one 40 days old, one from today */
    ck_assert_msg(db_exec(db,
                          "INSERT INTO dead_letters (queue, dead_queue, message_id, headers, body,"
                          " attempts, dead_at, stored_at, status, replayed_at, discarded_at)"
                          " SELECT $1, $1 || '.dead', gen_random_uuid()::text, '{}', '\\x7b7d', 5,"
                          " now() - age, now() - age, s,"
                          " CASE WHEN s = 'replayed' THEN now() - age END,"
                          " CASE WHEN s = 'discarded' THEN now() - age END"
                          " FROM unnest(ARRAY['dead', 'replayed', 'discarded']) s,"
                          " unnest(ARRAY[interval '40 days', interval '1 hour']) age",
                          1, params, NULL, &err) == WR_OK,
                  "%s", err.message);
    struct ts_ctl_run run;
    const char *const purge[] = {"dlq", "purge", "--older-than", "30", NULL};
    ts_ctl(&run, purge);
    ck_assert_msg(run.status == 0 && strstr(run.out, "purged"), "%s%s", run.out, run.err);
    ts_ctl_free(&run);
    ck_assert_int_eq(ts_db_number(db, "SELECT count(*) FROM dead_letters WHERE queue = $1", queue,
                                  NULL),
                     4); /* the old dead one and the three recent ones */
    ck_assert_int_eq(ts_db_number(db,
                                  "SELECT count(*) FROM dead_letters WHERE queue = $1"
                                  " AND status <> 'dead' AND stored_at < now() - interval '30 days'",
                                  queue, NULL),
                     0);
    const char *const bad[] = {"dlq", "purge", "--older-than", "soon", NULL};
    ts_ctl(&run, bad);
    ck_assert_int_eq(run.status, 2);
    ts_ctl_free(&run);
    db_close(db);
}
END_TEST

static Suite *deadletter_suite(void)
{
    Suite *s = suite_create("deadletter");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stored_once_with_every_field);
    tcase_add_test(tc, test_list_filters_stats_and_usage);
    tcase_add_test(tc, test_exit_codes);
    tcase_add_test(tc, test_retention_purges_old_replayed_and_discarded_records_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(deadletter_suite());
}
