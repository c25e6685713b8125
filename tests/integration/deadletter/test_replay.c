/* Integration tests of support staff's replay and discard, end to end on
 * the real stack: a payment worker on a world queue with two short retry
 * tiers (300 ms, 600 ms; 3 attempts), the payment stub failing with 500 or 429 so
 * charges die, a deadletter worker storing them from the queue's ".dead",
 * (a charge that fails twice is paid once, after both tiers' delays),
 * and `warrenctl dlq` replaying them once the stub is fixed: one record, a
 * filtered selection, a failure group and all; a discard; a ramped replay
 * that stops by itself while the cause is not fixed, whose re-dead message
 * comes back as a new record linked to the first; a replay that survives a
 * broker restart and a deadletter worker killed while storing, losing
 * nothing and storing no record twice; the same operations on the API's
 * admin routes (and its queue report), which refuse a storefront key. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/http.h"
#include "tests/support/programs.h"
#include "tests/support/stubs.h"
#include "tests/support/support.h"

static struct ts_world world;
static char gateway[64], queue[160], dead_queue[200];
static pid_t stub, payment_worker, deadletter_worker;
static struct db_conn *store;

/* The world's payment queue, with a short retry path instead of the real one. */
static void add_payment_queue(void)
{
    FILE *out = fopen(world.topology, "a");
    ck_assert_ptr_nonnull(out);
    fprintf(out,
            "  - name: %s\n    type: quorum\n    service: payment\n    prefetch: 20\n"
            "    retry: {max_attempts: 3, delays: [300ms, 600ms]}\n"
            "    bindings:\n      - {exchange: %s, routing_key: payment.charge}\n",
            queue, world.prefix);
    fclose(out);
    ts_ctl_apply_topology(world.topology);
}

static pid_t start_deadletter_worker(void)
{
    return ts_worker_start_on("deadletter", dead_queue);
}

static void setup(void)
{
    static const char *const keys[] = {"payment.succeeded", "payment.failed", "replay.probe",
                                       NULL};
    char url[256];
    ts_reap_tracked();
    ts_world_create(&world, "analytics", keys);
    snprintf(queue, sizeof queue, "%s-payment", world.prefix);
    snprintf(dead_queue, sizeof dead_queue, "%s.dead", queue);
    add_payment_queue();
    stub = ts_payment_stub_start("2s", gateway, sizeof gateway);
    setenv("WARREN_WORKER_OUTAGE_THRESHOLD", "0", 1); /* every failure costs an attempt here */
    setenv("WARREN_DATABASE_DEADLETTER_URL", ts_db_url("deadletter", url, sizeof url), 1);
    /* no fleet: the API's queue report lists the world's topology, even
     * when a developer's fleet runs on the same stack */
    ts_scratch_path("no-fleet.sock", url, sizeof url);
    setenv("WARREN_FLEET_CONTROL_SOCKET", url, 1);
    payment_worker = ts_worker_start(&world, "payment", NULL);
    deadletter_worker = start_deadletter_worker();
    ts_wait_consumers(queue, 1);
    ts_wait_consumers(dead_queue, 1);
    store = ts_db("deadletter");
}

static void teardown(void)
{
    int payment = ts_worker_stop(payment_worker);
    int deadletter = ts_worker_stop(deadletter_worker);
    ts_stop(stub, SIGTERM, 5000);
    ts_broker_disconnect();
    ts_world_destroy(&world);
    db_close(store);
    ck_assert_int_eq(payment, 0);
    ck_assert_int_eq(deadletter, 0);
}

/* ---- helpers ------------------------------------------------------------------------- */

static void stub_mode(const char *mode)
{
    char command[64];
    snprintf(command, sizeof command, "{\"mode\": \"%s\"}", mode);
    ts_stub_control(gateway, command);
}

static void publish_charge(const char *order_id)
{
    json_t *body = json_pack("{s:s, s:i, s:s, s:s, s:{s:s}}", "order_id", order_id, "amount", 1299,
                             "currency", "EUR", "payment_method", "pm_card_visa", "customer",
                             "email", "ana@example.com");
    ts_publish(world.prefix, "payment.charge", order_id, "test-shop", body);
    ts_publish_flush();
    json_decref(body);
}

/* Dead records of order_id in the store, after waiting up to 20 s for want. */
static long wait_dead(const char *order_id, long want)
{
    return ts_db_wait(store,
                      "SELECT count(*) FROM dead_letters WHERE correlation_id = $1"
                      " AND status = 'dead'",
                      order_id, NULL, want, 20000);
}

static char *record_id(const char *order_id, const char *status)
{
    char *id = ts_db_text(store,
                          "SELECT max(id)::text FROM dead_letters WHERE correlation_id = $1"
                          " AND status = $2",
                          order_id, status);
    ck_assert_msg(id != NULL, "no %s record for %s", status, order_id);
    return id;
}

static char *status_of(const char *id)
{
    return ts_db_text(store, "SELECT status FROM dead_letters WHERE id = $1::bigint", id, NULL);
}

/* Runs warrenctl with args; asserts the exit status; returns stdout (caller frees). */
static char *ctl(int want, const char *const *args)
{
    struct ts_ctl_run run;
    ts_ctl(&run, args);
    ck_assert_msg(run.status == want, "warrenctl %s %s: exit %d, want %d\n%s%s", args[0], args[1],
                  run.status, want, run.out, run.err);
    char *out = run.out;
    run.out = NULL;
    ts_ctl_free(&run);
    return out;
}

/* payment.succeeded for order_id arrives, and the stub charged it exactly once. */
static void expect_paid_once(const char *order_id)
{
    json_t *body = ts_next_body(world.reader, "payment.succeeded", order_id, 20000);
    ck_assert_msg(body != NULL, "no payment.succeeded for %s", order_id);
    json_decref(body);
    ck_assert_int_eq(ts_stub_charges_for(gateway, order_id), 1);
}

/* ---- tests --------------------------------------------------------------------------- */

START_TEST(a_charge_that_fails_twice_is_paid_once_after_both_tiers)
{
    char order[37];
    ts_uuid(order);
    ts_stub_control(gateway, "{\"mode\": \"fail500\", \"times\": 2}");
    int64_t started = wr_monotonic_ms();
    publish_charge(order);
    json_t *body = ts_next_body(world.reader, "payment.succeeded", order, 20000);
    int64_t took = wr_monotonic_ms() - started;
    ck_assert_msg(body != NULL, "no payment.succeeded for %s", order);
    json_decref(body);
    /* 300 ms + 600 ms in the tiers, with room for a loaded machine */
    ck_assert_msg(took >= 900 && took < 6000, "paid after %lld ms", (long long)took);
    ck_assert_int_eq(ts_stub_stat(gateway, "requests"), 3);
    ck_assert_int_eq(ts_stub_charges_for(gateway, order), 1);
    ck_assert_int_eq(ts_count_messages(world.reader, "payment.succeeded", order, 1, 0, 1000), 0);
    ck_assert_int_eq(wait_dead(order, 0), 0);
}
END_TEST

START_TEST(replay_one_a_filtered_selection_a_group_and_all_after_the_fix)
{
    char a[3][37], b[2][37];
    stub_mode("fail500");
    for (int i = 0; i < 3; i++) {
        ts_uuid(a[i]);
        publish_charge(a[i]);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wait_dead(a[i], 1), 1);
    stub_mode("fail429"); /* another cause: the gateway's rate limit */
    for (int i = 0; i < 2; i++) {
        ts_uuid(b[i]);
        publish_charge(b[i]);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(wait_dead(b[i], 1), 1);

    /* every field of one record */
    char *first = record_id(a[0], "dead");
    const char *const show[] = {"dlq", "show", first, "--json", NULL};
    json_t *record = ts_ctl_json(show);
    ck_assert_int_eq(json_integer_value(json_object_get(record, "attempts")), 3);
    static const char *const present[] = {"message_id", "correlation_id", "type", "first_error",
                                          "last_error", "first_failed_at", "dead_at"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
        ck_assert_msg(json_is_string(json_object_get(record, present[i])), "no %s", present[i]);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(record, "last_error")), "500"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(record, "headers"), "x-storefront")),
                     "test-shop");
    ck_assert_str_eq(json_string_value(json_object_get(record, "queue")), queue);
    ck_assert_str_eq(json_string_value(json_object_get(record, "exchange")), world.prefix);
    ck_assert_str_eq(json_string_value(json_object_get(record, "routing_key")), "payment.charge");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(record, "body")), a[0]));
    json_decref(record);

    /* two groups: the 500s and the 429s */
    const char *const groups[] = {"dlq", "groups", "--queue", queue, "--json", NULL};
    json_t *found = ts_ctl_json(groups);
    ck_assert_int_eq(json_array_size(found), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(found, 0), "count")), 3);
    char group_429[16];
    snprintf(group_429, sizeof group_429, "%s",
             json_string_value(json_object_get(json_array_get(found, 1), "group")));
    json_decref(found);

    stub_mode("approve");
    /* one */
    const char *const one[] = {"dlq", "replay", first, NULL};
    free(ctl(0, one));
    expect_paid_once(a[0]);
    char *status = status_of(first);
    ck_assert_str_eq(status, "replayed");
    free(status);
    char *by = ts_db_text(store, "SELECT replayed_by FROM dead_letters WHERE id = $1::bigint",
                          first, NULL);
    ck_assert_int_eq(strncmp(by, "warrenctl:", 10), 0);
    free(by);
    /* again: already replayed, exit 1, nothing sent */
    char *again = ctl(1, one);
    free(again);

    /* discard one with a reason */
    char *second = record_id(a[1], "dead");
    const char *const discard[] = {"dlq", "discard", second, "--reason", "customer cancelled",
                                   NULL};
    free(ctl(0, discard));
    char *reason = ts_db_text(store,
                              "SELECT status || ' ' || discard_reason || ' ' || discarded_by"
                              " FROM dead_letters WHERE id = $1::bigint",
                              second, NULL);
    ck_assert_int_eq(strncmp(reason, "discarded customer cancelled warrenctl:", 39), 0);
    free(reason);

    /* a group */
    const char *const group[] = {"dlq", "replay", "--group", group_429, NULL};
    free(ctl(0, group));
    for (int i = 0; i < 2; i++)
        expect_paid_once(b[i]);

    /* a filtered selection: a dry run first changes nothing */
    const char *const dry[] = {"dlq", "replay", "--all",     "--queue", queue, "--error", "500",
                               "--dry-run", "--json", NULL};
    json_t *plan = ts_ctl_json(dry);
    ck_assert_int_eq(json_array_size(json_object_get(plan, "would_replay")), 1); /* a[2] */
    json_decref(plan);
    ck_assert_int_eq(wait_dead(a[2], 1), 1);

    /* all that is left */
    const char *const all[] = {"dlq", "replay", "--all", "--queue", queue, NULL};
    char *out = ctl(0, all);
    ck_assert_msg(strstr(out, "replayed 1 of 1"), "%s", out);
    free(out);
    expect_paid_once(a[2]);
    ck_assert_int_eq(ts_stub_charges_for(gateway, a[1]), 0); /* the discarded one */
    ck_assert_int_eq(ts_db_number(store,
                                  "SELECT count(*) FROM dead_letters WHERE queue = $1"
                                  " AND status = 'dead'",
                                  queue, NULL),
                     0);
    free(first);
    free(second);
}
END_TEST

START_TEST(ramped_replay_stops_itself_while_the_cause_is_not_fixed)
{
    char orders[5][37];
    stub_mode("fail500");
    for (int i = 0; i < 5; i++) {
        ts_uuid(orders[i]);
        publish_charge(orders[i]);
    }
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(wait_dead(orders[i], 1), 1);

    const char *const ramp[] = {"dlq", "replay", "--all", "--queue", queue, "--ramp", "1,2",
                                "--settle", "10s", "--json", NULL};
    struct ts_ctl_run run;
    ts_ctl(&run, ramp);
    ck_assert_msg(run.status == 1, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *outcome = json_loads(run.out, 0, NULL);
    ck_assert_ptr_nonnull(outcome);
    ck_assert(json_is_true(json_object_get(outcome, "stopped")));
    ck_assert_int_eq(json_integer_value(json_object_get(outcome, "replayed")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(outcome, "failed_again")), 1);
    json_decref(outcome);
    ts_ctl_free(&run);

    /* the one replayed died again: a new record linked to its first */
    long replayed = ts_db_number(store,
                                 "SELECT count(*) FROM dead_letters WHERE queue = $1"
                                 " AND status = 'replayed'",
                                 queue, NULL);
    ck_assert_int_eq(replayed, 1);
    ck_assert_int_eq(ts_db_number(store,
                                  "SELECT count(*) FROM dead_letters WHERE queue = $1"
                                  " AND status = 'dead'",
                                  queue, NULL),
                     5);
    char *linked = ts_db_text(store,
                              "SELECT again.id::text FROM dead_letters again JOIN dead_letters"
                              " first ON again.previous_id = first.id WHERE first.queue = $1"
                              " AND first.status = 'replayed' AND again.status = 'dead'"
                              " AND again.message_id = first.message_id",
                              queue, NULL);
    ck_assert_msg(linked != NULL, "the re-dead message has no record linked to its first");

    /* fixed: replaying the new record carries it to its final status */
    stub_mode("approve");
    const char *const fixed[] = {"dlq", "replay", linked, NULL};
    free(ctl(0, fixed));
    char *order = ts_db_text(store,
                             "SELECT correlation_id FROM dead_letters WHERE id = $1::bigint",
                             linked, NULL);
    expect_paid_once(order);
    free(order);
    free(linked);
}
END_TEST

/* Stores n dead letters of a probe queue directly, routed back to the
 * world's reader (routing key replay.probe) when replayed. */
static void store_probes(const char *probe_queue, int n)
{
    char count[16];
    snprintf(count, sizeof count, "%d", n);
    const char *params[] = {probe_queue, world.prefix, count};
    struct wr_error err;
    ck_assert_msg(db_exec(store,
                          "INSERT INTO dead_letters (queue, dead_queue, original_exchange,"
                          " original_routing_key, message_id, type, correlation_id, headers,"
                          " body, attempts, last_error, dead_at)"
                          " SELECT $1, $1 || '.dead', $2, 'replay.probe',"
                          " gen_random_uuid()::text, 'replay.probe', i::text, '{}',"
                          " convert_to('{\"n\":' || i || '}', 'UTF8'), 5, 'probe failure', now()"
                          " FROM generate_series(1, $3::int) i",
                          3, params, NULL, &err) == WR_OK,
                  "%s", err.message);
}

START_TEST(a_broker_restart_mid_replay_loses_nothing_and_duplicates_no_record)
{
    char probe_queue[160];
    snprintf(probe_queue, sizeof probe_queue, "%s-probe", world.prefix);
    store_probes(probe_queue, 3000);
    /* 3000 at 500/s: about 6 s, with the broker down for part of it */
    const char *const args[] = {"dlq",  "replay", "--all", "--queue", probe_queue, "--rate",
                                "500", NULL};
    pid_t replay = ts_ctl_start(args);
    ts_sleep_ms(1500);
    ck_assert_int_eq(ts_run("scripts/stack stop rabbitmq >/dev/null"), 0);
    ck_assert_int_eq(ts_run("scripts/stack start rabbitmq >/dev/null"), 0);
    ts_broker_wait_up();
    ck_assert_int_eq(ts_reap(replay, 120000), 0); /* it finishes by itself */
    ck_assert_int_eq(ts_db_number(store,
                                  "SELECT count(*) FROM dead_letters WHERE queue = $1"
                                  " AND status = 'replayed'",
                                  probe_queue, NULL),
                     3000);
    ck_assert_int_eq(ts_db_number(store, "SELECT count(*) FROM dead_letters WHERE queue = $1",
                                  probe_queue, NULL),
                     3000);
    /* every probe reached the reader (a duplicate is allowed, a loss is not) */
    int seen[3001] = {0}, distinct = 0;
    for (json_t *m; distinct < 3000 && (m = ts_next_message(world.reader, 5000));) {
        int n = (int)json_integer_value(json_object_get(json_object_get(m, "body"), "n"));
        if (n >= 1 && n <= 3000 && !seen[n]++)
            distinct++;
        json_decref(m);
    }
    ck_assert_int_eq(distinct, 3000);
}
END_TEST

START_TEST(a_deadletter_worker_killed_mid_store_loses_and_duplicates_nothing)
{
    char orders[40][37];
    stub_mode("fail500");
    ck_assert_int_eq(ts_worker_stop(deadletter_worker), 0);
    for (int i = 0; i < 40; i++) { /* dead letters pile up in the .dead queue */
        ts_uuid(orders[i]);
        publish_charge(orders[i]);
    }
    ck_assert_uint_eq(ts_wait_depth(dead_queue, 40, 20000), 40);
    deadletter_worker = start_deadletter_worker();
    ts_wait_consumers(dead_queue, 1);
    ts_sleep_ms(20); /* somewhere in the middle of storing them */
    kill(deadletter_worker, SIGKILL);
    ts_reap(deadletter_worker, 5000);
    deadletter_worker = start_deadletter_worker();
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(wait_dead(orders[i], 1), 1);
    ck_assert_uint_eq(ts_wait_depth(dead_queue, 0, 10000), 0);
    ts_sleep_ms(500);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(ts_db_number(store,
                                      "SELECT count(*) FROM dead_letters WHERE correlation_id = $1",
                                      orders[i], NULL),
                         1);
}
END_TEST


/* One admin request: method, path (with query) and body with key; the
 * answer's JSON body (or NULL) and status. */
static json_t *admin(const struct ts_api *api, const char *method, const char *path,
                     const char *body, const char *key, long *status)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s%s", api->base_url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    struct ts_http_request request = {.method = method, .url = url, .headers = headers,
                                      .body = body, .body_len = body ? strlen(body) : 0};
    struct ts_http_reply reply = {0};
    ts_http_send(&request, &reply);
    *status = reply.status;
    json_t *out = reply.body ? json_loads(reply.body, 0, NULL) : NULL;
    ts_http_reply_free(&reply);
    return out;
}

static const char *field_of(const json_t *error_answer)
{
    return json_string_value(json_object_get(json_object_get(error_answer, "error"), "field"));
}

START_TEST(admin_routes_list_show_replay_and_discard_and_refuse_a_storefront_key)
{
    char orders[3][37], path[256];
    long status;
    struct ts_api api;
    stub_mode("fail500");
    for (int i = 0; i < 3; i++) {
        ts_uuid(orders[i]);
        publish_charge(orders[i]);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wait_dead(orders[i], 1), 1);
    ts_api_start(&api, world.prefix, NULL, NULL);

    /* a storefront key is refused on every admin route, and changes nothing */
    snprintf(path, sizeof path, "/v1/admin/dead-letters?queue=%s", queue);
    json_t *out = admin(&api, "GET", path, NULL, "shop-a-key", &status);
    ck_assert_int_eq(status, 403);
    json_decref(out);
    json_decref(admin(&api, "POST", "/v1/admin/dead-letters/replay", "{\"all\": true}",
                      "shop-a-key", &status));
    ck_assert_int_eq(status, 403);
    json_decref(admin(&api, "GET", path, NULL, "no-such-key", &status));
    ck_assert_int_eq(status, 401);

    /* the queue report of `warrenctl status` */
    json_decref(admin(&api, "GET", "/v1/admin/queues", NULL, "shop-a-key", &status));
    ck_assert_int_eq(status, 403);
    out = admin(&api, "GET", "/v1/admin/queues", NULL, "admin-key", &status);
    ck_assert_int_eq(status, 200);
    ck_assert(json_is_true(json_object_get(json_object_get(out, "broker"), "reachable")));
    size_t k;
    json_t *row;
    bool listed = false;
    json_array_foreach(json_object_get(out, "queues"), k, row) listed =
        listed || strcmp(json_string_value(json_object_get(row, "queue")), queue) == 0;
    ck_assert_msg(listed, "%s is not in the queue report", queue);
    json_decref(out);

    /* list with a filter; a bad filter names its field */
    out = admin(&api, "GET", path, NULL, "admin-key", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "total")), 3);
    ck_assert_int_eq(json_array_size(json_object_get(out, "dead_letters")), 3);
    long long first = json_integer_value(
        json_object_get(json_array_get(json_object_get(out, "dead_letters"), 2), "id"));
    json_decref(out);
    out = admin(&api, "GET", "/v1/admin/dead-letters?since=yesterday", NULL, "admin-key", &status);
    ck_assert_int_eq(status, 400);
    ck_assert_str_eq(field_of(out), "since");
    json_decref(out);
    out = admin(&api, "GET", "/v1/admin/dead-letters?colour=red", NULL, "admin-key", &status);
    ck_assert_int_eq(status, 400);
    ck_assert_str_eq(field_of(out), "colour");
    json_decref(out);
    snprintf(path, sizeof path, "/v1/admin/dead-letters?queue=%s&limit=2", queue);
    out = admin(&api, "GET", path, NULL, "admin-key", &status);
    ck_assert_int_eq(json_array_size(json_object_get(out, "dead_letters")), 2);
    ck_assert(json_is_string(json_object_get(out, "next_cursor")));
    json_decref(out);

    /* show; groups */
    snprintf(path, sizeof path, "/v1/admin/dead-letters/%lld", first);
    out = admin(&api, "GET", path, NULL, "admin-key", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(out, "routing_key")), "payment.charge");
    char discarded_order[37];
    snprintf(discarded_order, sizeof discarded_order, "%s",
             json_string_value(json_object_get(out, "correlation_id")));
    json_decref(out);
    json_decref(admin(&api, "GET", "/v1/admin/dead-letters/999999999", NULL, "admin-key",
                      &status));
    ck_assert_int_eq(status, 404);
    snprintf(path, sizeof path, "/v1/admin/dead-letters/groups?queue=%s", queue);
    out = admin(&api, "GET", path, NULL, "admin-key", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(out, "groups"), 0), "count")),
                     3);
    json_decref(out);

    /* discard one (a reason is required), replay one, replay the rest by filter */
    stub_mode("approve");
    snprintf(path, sizeof path, "/v1/admin/dead-letters/%lld/discard", first);
    out = admin(&api, "POST", path, "{}", "admin-key", &status);
    ck_assert_int_eq(status, 400);
    ck_assert_str_eq(field_of(out), "reason");
    json_decref(out);
    out = admin(&api, "POST", path, "{\"reason\": \"duplicate order\"}", "admin-key", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(out, "status")), "discarded");
    ck_assert_str_eq(json_string_value(json_object_get(out, "discarded_by")), "admin:ops");
    json_decref(out);
    snprintf(path, sizeof path, "/v1/admin/dead-letters/%lld/replay", first);
    json_decref(admin(&api, "POST", path, NULL, "admin-key", &status));
    ck_assert_int_eq(status, 409); /* discarded: not replayed */
    char body[400];
    snprintf(body, sizeof body, "{\"queue\": \"%s\", \"rate\": 100, \"ramp\": [1], "
             "\"settle\": \"1s\"}", queue);
    out = admin(&api, "POST", "/v1/admin/dead-letters/replay", body, "admin-key", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "replayed")), 2);
    ck_assert(json_is_false(json_object_get(out, "stopped")));
    json_decref(out);
    json_decref(admin(&api, "POST", "/v1/admin/dead-letters/replay", "{\"ramp\": [0]}",
                      "admin-key", &status));
    ck_assert_int_eq(status, 400);
    for (int i = 0; i < 3; i++)
        if (strcmp(orders[i], discarded_order) != 0)
            expect_paid_once(orders[i]);
    ck_assert_int_eq(ts_stub_charges_for(gateway, discarded_order), 0);
    ck_assert_int_eq(ts_api_stop(&api), 0);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, a_charge_that_fails_twice_is_paid_once_after_both_tiers);
    tcase_add_test(tc, replay_one_a_filtered_selection_a_group_and_all_after_the_fix);
    tcase_add_test(tc, ramped_replay_stops_itself_while_the_cause_is_not_fixed);
    tcase_add_test(tc, a_deadletter_worker_killed_mid_store_loses_and_duplicates_nothing);
    tcase_add_test(tc, admin_routes_list_show_replay_and_discard_and_refuse_a_storefront_key);
    tcase_add_test(tc, a_broker_restart_mid_replay_loses_nothing_and_duplicates_no_record);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(replay_suite());
}
