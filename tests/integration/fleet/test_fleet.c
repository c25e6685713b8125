/* Integration tests of warren-fleet, `warrenctl scale` and `warrenctl
 * status` against the real stack, on a broker world of their own (private
 * exchange and queues, own API port and control socket): the fleet starts
 * the topology's counts (consumers counted through the management API);
 * scaling up and down while orders flow loses nothing and redelivers
 * nothing; a worker killed with SIGKILL is back within the backoff; SIGTERM
 * during a load of orders stops everything in the bound with nothing held,
 * and every accepted order reaches a final status. The storefront is the
 * saga tests' (tests/integration/saga/saga.h). */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/integration/saga/saga.h"
#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/programs.h"
#include "tests/support/support.h"

#define SERVICES "order inventory payment notification analytics"
#define SHUTDOWN_BOUND_MS 20000
#define MAX_ORDERS 2000

static const char *const services[] = {"order", "inventory", "payment", "notification",
                                       "analytics"};
static struct ts_fleet fleet;
static struct sg_fleet shop; /* the world, and the storefront on the fleet's API */

/* ---- the fleet on a world ---------------------------------------------------------------- */

static void start_fleet(void)
{
    ts_fleet_start(&fleet, &shop.world);
    snprintf(shop.api.base_url, sizeof shop.api.base_url, "%s", fleet.base_url);
    snprintf(shop.api.log, sizeof shop.api.log, "%s", fleet.log);
}

/* A world of SERVICES with the given counts ("order:2 inventory ...") and
 * a fleet on it. */
static void start(const char *world_services)
{
    ts_reap_tracked(); /* anything an earlier failed test left running */
    memset(&shop, 0, sizeof shop);
    ts_world_create(&shop.world, world_services, NULL);
    sg_use_stack_stubs(&shop);
    char bound[32];
    snprintf(bound, sizeof bound, "%dms", SHUTDOWN_BOUND_MS);
    setenv("WARREN_FLEET_SHUTDOWN_TIMEOUT", bound, 1);
    start_fleet();
    shop.orders = ts_db("order");
    shop.inventory = ts_db("inventory");
}

static bool log_warns(const char *needle);

/* Every process stopped cleanly (exit 0: no sanitizer report either). */
static void teardown(void)
{
    int status = ts_fleet_stop(&fleet, 40000);
    ck_assert_msg(!log_warns("(shutdown)"), "a process did not exit 0 at shutdown; see %s",
                  fleet.log);
    ts_broker_disconnect();
    ts_world_destroy(&shop.world);
    db_close(shop.orders);
    db_close(shop.inventory);
    ck_assert_msg(status == 0, "warren-fleet exited with %d; see %s", status, fleet.log);
}

static const char *queue_of(const char *service, const char *suffix, char *out, size_t size)
{
    return ts_world_queue(&shop.world, service, suffix, out, size);
}

/* Asserts the management API shows want consumers on the queue of service. */
static void assert_consumers(const char *service, const char *suffix, long want)
{
    char queue[160];
    long seen =
        ts_mgmt_wait(queue_of(service, suffix, queue, sizeof queue), "consumers", want, 20000);
    ck_assert_msg(seen == want, "%s: %ld consumers, want %ld", queue, seen, want);
}

static int ctl_status(const char *const *args)
{
    struct ts_ctl_run run;
    ts_ctl(&run, args);
    int status = run.status;
    ts_ctl_free(&run);
    return status;
}

/* `warrenctl status --json`'s row of a queue (the caller frees the document). */
static const json_t *status_row(json_t *doc, const char *queue)
{
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(doc, "queues"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "queue")), queue) == 0)
            return row;
    }
    return NULL;
}

static json_t *status_json(void)
{
    struct ts_ctl_run run;
    ts_ctl(&run, (const char *const[]){"status", "--json", NULL});
    ck_assert_msg(run.status == 0, "warrenctl status: %d %s", run.status, run.err);
    json_t *doc = json_loads(run.out, 0, NULL);
    ck_assert_msg(doc != NULL, "warrenctl status --json: not JSON: %s", run.out);
    ts_ctl_free(&run);
    return doc;
}

/* ---- orders flowing ----------------------------------------------------------------------------
 */

struct load {
    pthread_t thread;
    atomic_bool stop;
    int per_s;
    size_t accepted;
    char ids[MAX_ORDERS][37];
};

static void *post_orders(void *arg)
{
    struct load *load = arg;
    char email[128], detail[256];
    json_t *order =
        sg_order(&shop, sg_email("fleet", email, sizeof email), "ITEM:1", "pm_card_visa", "email");
    /* no email: the stack's SMTP server may be stopped by another test, and
     * the notification worker's outage mode would then requeue (redeliver) */
    json_object_set_new(order, "notify", json_array());
    while (!atomic_load(&load->stop) && load->accepted < MAX_ORDERS) {
        if (sg_try_post(&shop, order, load->ids[load->accepted], detail, sizeof detail) == 202)
            load->accepted++;
        ts_sleep_ms(1000 / load->per_s);
    }
    json_decref(order);
    return NULL;
}

static void load_start(struct load *load, int per_s)
{
    static const char *const rows[] = {"ITEM,Fleet test item,500,EUR,1000000", NULL};
    sg_import(&shop, rows);
    load->per_s = per_s;
    atomic_store(&load->stop, false);
    ck_assert_int_eq(pthread_create(&load->thread, NULL, post_orders, load), 0);
}

static void load_stop(struct load *load)
{
    atomic_store(&load->stop, true);
    pthread_join(load->thread, NULL);
}

static void assert_all_final(const struct load *load)
{
    ck_assert_msg(load->accepted > 0, "no order was accepted");
    for (size_t i = 0; i < load->accepted; i++)
        json_decref(sg_wait_final(&shop, load->ids[i], 60000));
}

/* Once the broker's statistics caught up (one interval): no queue of the
 * world holds a message, none is unacked, none was ever redelivered (a
 * redelivery is what an unacked message left behind by a stopped worker
 * becomes). */
static void assert_nothing_held_or_redelivered(void)
{
    char queue[160];
    ts_sleep_ms(5500);
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        queue_of(services[i], "", queue, sizeof queue);
        ck_assert_uint_eq(ts_depth(queue), 0);
        ck_assert_int_eq(ts_mgmt_wait(queue, "messages_unacknowledged", 0, 10000), 0);
        ck_assert_msg(ts_mgmt_figure(queue, "message_stats.redeliver") == 0,
                      "%s: %ld messages were redelivered", queue,
                      ts_mgmt_figure(queue, "message_stats.redeliver"));
    }
}

/* True when the fleet's log has a warning or error line containing needle. */
static bool log_warns(const char *needle)
{
    char *log = ts_read_file(fleet.log), *save = NULL;
    bool found = false;
    ck_assert_ptr_nonnull(log);
    for (char *line = strtok_r(log, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save))
        found = strstr(line, needle) && !strstr(line, "\"level\":\"info\"") &&
                !strstr(line, "\"level\":\"debug\"");
    free(log);
    return found;
}

/* ---- the worker processes ------------------------------------------------------------------- */

/* True when /proc/PID/cmdline has the argument pair "--queue QUEUE". */
static bool runs_queue(int pid, const char *queue)
{
    char path[64], cmdline[1024];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *file = fopen(path, "rb");
    if (!file)
        return false;
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, file);
    fclose(file);
    cmdline[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(cmdline + i) + 1)
        if (strcmp(cmdline + i, "--queue") == 0 && i + 8 < n && strcmp(cmdline + i + 8, queue) == 0)
            return true;
    return false;
}

static int parent_of(int pid)
{
    char path[64];
    int ppid = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen(path, "r");
    if (file && fscanf(file, "%*d (%*[^)]) %*c %d", &ppid) != 1)
        ppid = 0;
    if (file)
        fclose(file);
    return ppid;
}

/* A worker of the fleet on queue other than not, or 0. */
static pid_t worker_on(const char *queue, pid_t not )
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    pid_t found = 0;
    while (proc && !found && (entry = readdir(proc))) {
        int pid = (int)strtol(entry->d_name, NULL, 10);
        if (pid > 0 && pid != not &&parent_of(pid) == fleet.pid && runs_queue(pid, queue))
            found = pid;
    }
    if (proc)
        closedir(proc);
    return found;
}

/* ---- the tests ------------------------------------------------------------------------------- */

START_TEST(fleet_starts_the_topology_counts_and_refuses_bad_scaling)
{
    start("order:2 inventory payment:3 notification analytics");
    assert_consumers("order", "", 2);
    assert_consumers("payment", "", 3);
    assert_consumers("inventory", "", 1);
    assert_consumers("payment", ".dead", 1);
    json_t *doc = status_json();
    char queue[160];
    const json_t *row = status_row(doc, queue_of("payment", "", queue, sizeof queue));
    ck_assert_ptr_nonnull(row);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "desired")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "running")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "consumers")), 3);
    ck_assert(json_is_true(json_object_get(json_object_get(doc, "fleet"), "running")));
    json_decref(doc);
    /* bad input: exit 2 and nothing changed */
    ck_assert_int_eq(ctl_status((const char *const[]){"scale", "payment=65", NULL}), 2);
    ck_assert_int_eq(ctl_status((const char *const[]){"scale", "payment=1", "nosuch=2", NULL}), 2);
    ck_assert_int_eq(ctl_status((const char *const[]){"scale", "payment", NULL}), 2);
    ck_assert_int_eq(ctl_status((const char *const[]){"scale", "deadletter=2", NULL}), 2);
    doc = status_json();
    row = status_row(doc, queue);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "desired")), 3);
    json_decref(doc);
    teardown();
}
END_TEST

START_TEST(scaling_up_and_down_while_orders_flow_loses_and_redelivers_nothing)
{
    static struct load load;
    start(SERVICES);
    load_start(&load, 25);
    ts_sleep_ms(1000);
    ck_assert_int_eq(ctl_status((const char *const[]){"scale", "payment=3", "inventory=2", NULL}),
                     0);
    assert_consumers("payment", "", 3);
    assert_consumers("inventory", "", 2);
    assert_consumers("order", "", 1); /* untouched */
    ts_sleep_ms(1000);
    ck_assert_int_eq(ctl_status((const char *const[]){"scale", "payment=1", "inventory=1", NULL}),
                     0);
    assert_consumers("payment", "", 1);
    assert_consumers("inventory", "", 1);
    ts_sleep_ms(500);
    load_stop(&load);
    assert_all_final(&load);
    assert_nothing_held_or_redelivered();
    /* the fleet warns of a scaled-down worker that did not exit 0 */
    ck_assert_msg(!log_warns("scaled down") && !log_warns("did not stop in time"),
                  "a scaled-down worker did not stop cleanly; see %s", fleet.log);
    teardown();
}
END_TEST

START_TEST(worker_killed_with_sigkill_is_back_within_the_backoff)
{
    char queue[160];
    start(SERVICES);
    queue_of("payment", "", queue, sizeof queue);
    assert_consumers("payment", "", 1);
    pid_t victim = worker_on(queue, 0);
    ck_assert_int_gt(victim, 0);
    int64_t killed_at = wr_monotonic_ms();
    kill(victim, SIGKILL);
    pid_t back = 0;
    while (!back && wr_monotonic_ms() - killed_at < 3000) {
        ts_sleep_ms(20);
        back = worker_on(queue, victim);
    }
    /* a worker that lived under 10 s waits 1 s; one that lived longer 200 ms */
    ck_assert_msg(back > 0, "no new payment worker within 3 s of the SIGKILL");
    /* exact (a passive declare): the killed worker's consumer went with its
     * connection, so this one is the new worker's */
    ck_assert_uint_eq(ts_wait_consumers(queue, 1), 1);
    ck_assert(log_warns("killed by signal 9"));
    teardown();
}
END_TEST

START_TEST(sigterm_during_orders_stops_in_the_bound_and_leaves_nothing_held)
{
    static struct load load;
    start(SERVICES);
    load_start(&load, 40);
    ts_sleep_ms(2500);
    int64_t sent_at = wr_monotonic_ms();
    kill(fleet.pid, SIGTERM);
    int wstatus = ts_wait_exit(fleet.pid, SHUTDOWN_BOUND_MS + 5000);
    int64_t took = wr_monotonic_ms() - sent_at;
    fleet.pid = 0;
    load_stop(&load);
    ck_assert_msg(wstatus == 0, "warren-fleet: wait status %d after %lld ms; see %s", wstatus,
                  (long long)took, fleet.log);
    ck_assert_int_lt(took, SHUTDOWN_BOUND_MS);
    ck_assert_msg(!log_warns("(shutdown)") && !log_warns("did not stop in time"),
                  "a process did not stop cleanly; see %s", fleet.log);
    /* what was accepted but not yet through the saga waits in the queues:
     * the next fleet finishes it */
    start_fleet();
    assert_all_final(&load);
    assert_nothing_held_or_redelivered();
    teardown();
}
END_TEST

static void runner_setup(void)
{
    ts_track_begin();
}

static void runner_teardown(void)
{
    ts_reap_tracked();
}

static Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("fleet");
    tcase_set_timeout(tc, 180);
    tcase_add_unchecked_fixture(tc, runner_setup, runner_teardown);
    tcase_add_test(tc, fleet_starts_the_topology_counts_and_refuses_bad_scaling);
    tcase_add_test(tc, scaling_up_and_down_while_orders_flow_loses_and_redelivers_nothing);
    tcase_add_test(tc, worker_killed_with_sigkill_is_back_within_the_backoff);
    tcase_add_test(tc, sigterm_during_orders_stops_in_the_bound_and_leaves_nothing_held);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(fleet_suite());
}
