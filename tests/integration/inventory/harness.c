/* Helpers for the inventory, catalog and analytics integration tests: a
 * private exchange and queues per test program, worker processes, a
 * confirmed publisher, a reader of answers, warrenctl runs, database
 * polling (see harness.h). */
#include "tests/integration/inventory/harness.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "broker/broker.h"
#include "topology/topology.h"
#include "tests/support/support.h"

/* Per process (each check test runs in a child of its own). */
static struct mq_conn *publish_conn;
static struct mq_publisher *publisher;
static struct mq_conn *read_conn;
static struct mq_consumer *reader;
static int failed_confirms;

void ih_sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

static struct mq_conn *connect_broker(const char *name)
{
    struct mq_conn_options options = {.url = ts_broker_url(), .name = name};
    struct wr_error err;
    struct mq_conn *conn = mq_conn_open(&options, &err);
    ck_assert_msg(conn != NULL, "broker: %s", err.message);
    return conn;
}

/* ---- the world ------------------------------------------------------------------------ */

/* The queue of the real topology/topology.yaml that service consumes (asserts). */
static const struct topo_queue *real_queue(const struct topo_model *model, const char *service)
{
    for (size_t i = 0; i < model->queue_count; i++)
        if (strcmp(topo_service_name(model->queues[i].service), service) == 0)
            return &model->queues[i];
    ck_abort_msg("no queue for service %s in topology/topology.yaml", service);
    return NULL;
}

/* Writes the world's topology: the real file's queue of service, with its
 * type, prefetch, retry and bindings, renamed and moved onto the world's
 * exchange. */
static void write_topology(const struct ih_world *w, const char *service)
{
    char path[512];
    struct topo_model *model = NULL;
    struct topo_diags diags = {0};
    ck_assert_int_eq(
        topo_load_file(ts_source_path("topology/topology.yaml", path, sizeof path), &model, &diags),
        WR_OK);
    topo_diags_free(&diags);
    const struct topo_queue *q = real_queue(model, service);
    FILE *out = fopen(w->topology, "w");
    ck_assert_msg(out != NULL, "cannot write %s", w->topology);
    fprintf(out,
            "exchanges:\n  - {name: %s, type: topic}\n"
            "queues:\n  - name: %s\n    type: %s\n    service: %s\n    prefetch: %d\n"
            "    retry: {max_attempts: %d, delays: [",
            w->prefix, w->queue, mq_queue_type_name(q->type), service, q->prefetch,
            q->max_attempts);
    for (size_t i = 0; i < q->retry_delay_count; i++)
        fprintf(out, "%s%lldms", i ? ", " : "", (long long)q->retry_delays_ms[i]);
    fputs("]}\n    bindings:\n", out);
    for (size_t i = 0; i < q->binding_count; i++)
        fprintf(out, "      - {exchange: %s, routing_key: \"%s\"}\n", w->prefix,
                q->bindings[i].routing_key);
    fclose(out);
    topo_model_free(model);
}

static void set_environment(const struct ih_world *w)
{
    char url[256];
    setenv("WARREN_BROKER_URL", ts_broker_url(), 1);
    setenv("WARREN_BROKER_MANAGEMENT_URL", ts_management_url(), 1);
    setenv("WARREN_BROKER_EXCHANGE", w->prefix, 1);
    setenv("WARREN_TOPOLOGY_FILE", w->topology, 1);
    setenv("WARREN_DATABASE_INVENTORY_URL", ts_db_url("inventory", url, sizeof url), 1);
    setenv("WARREN_DATABASE_ANALYTICS_URL", ts_db_url("analytics", url, sizeof url), 1);
    setenv("WARREN_LOG_LEVEL", "warn", 1);
}

static void declare_reader(const struct ih_world *w, const char *const *keys)
{
    struct wr_error err;
    struct mq_conn *conn = connect_broker("warren-it-setup");
    struct mq_queue_spec spec = {.name = (char *)w->reader, .type = MQ_QUEUE_CLASSIC};
    ck_assert_msg(mq_declare_queue(conn, &spec, &err) == WR_OK, "%s", err.message);
    for (size_t i = 0; keys && keys[i]; i++) {
        struct mq_binding_spec binding = {
            .exchange = (char *)w->prefix, .queue = spec.name, .routing_key = (char *)keys[i]};
        ck_assert_msg(mq_bind_queue(conn, &binding, &err) == WR_OK, "%s", err.message);
    }
    mq_conn_close(conn);
}

/* A connection once the broker is up (other tests on the stack may be
 * restarting it), or NULL after timeout_ms. */
static struct mq_conn *connect_when_up(int timeout_ms, struct wr_error *err)
{
    struct mq_conn_options options = {.url = ts_broker_url(), .name = "warren-it-setup"};
    struct mq_conn *conn = NULL;
    for (int waited = 0; !conn && waited < timeout_ms; waited += 500) {
        if (!(conn = mq_conn_open(&options, err)))
            ih_sleep_ms(500);
    }
    return conn;
}

static void wait_for_broker(void)
{
    struct wr_error err = {0};
    struct mq_conn *conn = connect_when_up(30000, &err);
    mq_conn_close(conn);
    ck_assert_msg(conn != NULL && ts_http_wait(ts_management_url(), 30000) == 0,
                  "the stack's broker is not up (scripts/stack start): %s", err.message);
}

void ih_world_create(struct ih_world *w, const char *service, const char *const *reader_keys)
{
    char prefix[48];
    memset(w, 0, sizeof *w);
    snprintf(w->prefix, sizeof w->prefix, "%s", ts_unique_name("it-world", prefix, sizeof prefix));
    snprintf(w->queue, sizeof w->queue, "%s-%s", w->prefix, service);
    snprintf(w->reader, sizeof w->reader, "%s-reader", w->prefix);
    snprintf(w->topology, sizeof w->topology, "/tmp/warren-%s.yaml", w->prefix);
    wait_for_broker();
    write_topology(w, service);
    set_environment(w);
    const char *const apply[] = {"topology", "apply", w->topology, NULL};
    struct ih_run run;
    char output[1024];
    ih_warrenctl(&run, apply);
    snprintf(output, sizeof output, "%s%s", run.out, run.err);
    int status = run.status;
    ih_run_free(&run);
    ck_assert_msg(status == 0, "topology apply: %s", output);
    declare_reader(w, reader_keys);
}

/* Deletes the queues the world's topology derives, the reader and the exchange. */
static void delete_objects(struct mq_conn *conn, const struct ih_world *w)
{
    struct topo_model *model = NULL;
    struct topo_derived derived = {0};
    struct topo_diags diags = {0};
    struct wr_error err;
    if (topo_load_file(w->topology, &model, &diags) == WR_OK &&
        topo_derive(model, &derived, &err) == WR_OK) {
        for (size_t i = 0; i < derived.queue_count; i++)
            (void)mq_delete_queue(conn, derived.queues[i].name, &err);
    }
    (void)mq_delete_queue(conn, w->reader, &err);
    (void)mq_delete_exchange(conn, w->prefix, &err);
    topo_derived_free(&derived);
    topo_model_free(model);
    topo_diags_free(&diags);
}

void ih_world_destroy(struct ih_world *w)
{
    struct wr_error err;
    struct mq_conn *conn = connect_when_up(30000, &err);
    if (conn)
        delete_objects(conn, w);
    mq_conn_close(conn);
    unlink(w->topology);
}

/* ---- workers -------------------------------------------------------------------------- */

pid_t ih_start_worker(const struct ih_world *w, const char *service)
{
    static int started;
    char log[160];
    snprintf(log, sizeof log, "/tmp/warren-it-%s-%d-%d.log", service, (int)getpid(), ++started);
    char *argv[] = {WARREN_WORKER_BIN, "--service",      (char *)service,
                    "--queue",         (char *)w->queue, NULL};
    return ts_spawn(argv, log);
}

unsigned ih_wait_consumers(const struct ih_world *w, unsigned n)
{
    struct wr_error err;
    struct mq_conn_options options = {.url = ts_broker_url(), .name = "warren-it-inspect"};
    struct mq_conn *conn = mq_conn_open(&options, &err);
    uint32_t messages = 0, consumers = 0;
    for (int waited = 0; conn && waited < 15000 && consumers < n; waited += 50) {
        if (mq_queue_inspect(conn, w->queue, &messages, &consumers, &err) != WR_OK || consumers < n)
            ih_sleep_ms(50);
    }
    mq_conn_close(conn);
    return consumers;
}

int ih_stop_worker(pid_t pid)
{
    return ts_stop(pid, SIGTERM, 15000);
}

unsigned ih_depth(const char *queue)
{
    struct wr_error err;
    uint32_t messages = 0;
    struct mq_conn *conn = connect_broker("warren-it-inspect");
    ck_assert_msg(mq_queue_inspect(conn, queue, &messages, NULL, &err) == WR_OK, "%s", err.message);
    mq_conn_close(conn);
    return messages;
}

/* ---- publishing and reading ----------------------------------------------------------- */

static void on_confirm(void *ctx, wr_status result, const struct wr_error *detail, void *user)
{
    (void)ctx;
    (void)detail;
    (void)user;
    failed_confirms += result != WR_OK;
}

void ih_publish(const struct ih_world *w, const char *type, const char *order_id,
                const char *storefront, json_t *body)
{
    struct wr_error err;
    char message_id[37];
    if (!publisher) {
        struct mq_publisher_options options = {.max_in_flight = 512, .on_confirm = on_confirm};
        publish_conn = connect_broker("warren-it-publish");
        publisher = mq_publisher_create(publish_conn, &options, &err);
        ck_assert_msg(publisher != NULL, "%s", err.message);
    }
    ih_uuid(message_id);
    char *text = json_dumps(body, JSON_COMPACT);
    struct mq_header headers[2] = {
        {.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 1},
        {.key = "x-storefront", .kind = MQ_HEADER_STRING, .string = (char *)storefront},
    };
    struct mq_message msg = {.exchange = w->prefix,
                             .routing_key = type,
                             .body = text,
                             .body_len = strlen(text),
                             .message_id = message_id,
                             .correlation_id = order_id,
                             .type = type,
                             .content_type = "application/json",
                             .timestamp = time(NULL),
                             .persistent = true,
                             .headers = headers,
                             .header_count = storefront ? 2 : 1};
    ck_assert_msg(mq_publish(publisher, &msg, NULL, &err) == WR_OK, "%s", err.message);
    free(text);
}

void ih_flush(void)
{
    struct wr_error err;
    if (!publisher)
        return;
    ck_assert_msg(mq_publisher_flush(publisher, 10000, &err) == WR_OK, "%s", err.message);
    ck_assert_int_eq(failed_confirms, 0);
}

json_t *ih_next_answer(const struct ih_world *w, int timeout_ms)
{
    struct wr_error err;
    struct mq_delivery *d = NULL;
    if (!reader) {
        read_conn = connect_broker("warren-it-read");
        reader = mq_consumer_create(read_conn, w->reader, 500, &err);
        ck_assert_msg(reader != NULL, "%s", err.message);
    }
    if (mq_consumer_next(reader, timeout_ms, &d, &err) != WR_OK)
        return NULL;
    json_t *body = json_loadb(d->body, d->body_len, 0, NULL);
    json_t *answer = json_pack("{s:s?, s:s?, s:o?}", "type", d->type, "order_id", d->correlation_id,
                               "body", body);
    ck_assert_int_eq(mq_ack(reader, d->delivery_tag, &err), WR_OK);
    mq_delivery_free(d);
    return answer;
}

void ih_disconnect(void)
{
    mq_consumer_destroy(reader);
    mq_conn_close(read_conn);
    mq_publisher_destroy(publisher);
    mq_conn_close(publish_conn);
    reader = NULL;
    read_conn = NULL;
    publisher = NULL;
    publish_conn = NULL;
}

/* ---- warrenctl ------------------------------------------------------------------------ */

static char *read_all(const char *path)
{
    FILE *in = fopen(path, "rb");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    int c;
    while (in && (c = fgetc(in)) != EOF)
        fputc(c, out);
    fclose(out);
    if (in)
        fclose(in);
    unlink(path);
    return text;
}

void ih_warrenctl(struct ih_run *run, const char *const *args)
{
    static int runs;
    char out_path[96], err_path[96];
    char *argv[32] = {WARRENCTL_BIN};
    size_t n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    snprintf(out_path, sizeof out_path, "/tmp/warren-it-%d-%d.out", (int)getpid(), ++runs);
    snprintf(err_path, sizeof err_path, "/tmp/warren-it-%d-%d.err", (int)getpid(), runs);
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    int wstatus = 0;
    ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
    run->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    run->out = read_all(out_path);
    run->err = read_all(err_path);
}

void ih_run_free(struct ih_run *run)
{
    free(run->out);
    free(run->err);
}

void ih_write_temp(const char *text, const char *suffix, char *path, size_t size)
{
    static int files;
    snprintf(path, size, "/tmp/warren-it-%d-%d%s", (int)getpid(), ++files, suffix);
    FILE *out = fopen(path, "w");
    ck_assert_msg(out != NULL, "cannot write %s", path);
    fputs(text, out);
    fclose(out);
}

/* ---- database ------------------------------------------------------------------------- */

struct db_conn *ih_db(const char *service)
{
    char url[256];
    struct wr_error err;
    struct db_conn *db = db_open(ts_db_url(service, url, sizeof url), &err);
    ck_assert_msg(db != NULL, "database: %s", err.message);
    return db;
}

long ih_db_number(struct db_conn *db, const char *sql, const char *p1, const char *p2)
{
    struct db_result *res = NULL;
    struct wr_error err;
    const char *params[] = {p1, p2};
    wr_status status = db_exec(db, sql, p2 ? 2 : p1 ? 1 : 0, params, &res, &err);
    ck_assert_msg(status == WR_OK, "%s: %s", sql, err.message);
    long value = db_result_rows(res) && db_result_value(res, 0, 0)
                     ? strtol(db_result_value(res, 0, 0), NULL, 10)
                     : 0;
    db_result_free(res);
    return value;
}

long ih_db_wait(struct db_conn *db, const char *sql, const char *p1, const char *p2, long want,
                int timeout_ms)
{
    long value = ih_db_number(db, sql, p1, p2);
    for (int waited = 0; value != want && waited < timeout_ms; waited += 50) {
        ih_sleep_ms(50);
        value = ih_db_number(db, sql, p1, p2);
    }
    return value;
}

void ih_uuid(char out[37])
{
    uuid_t id;
    uuid_generate_random(id);
    uuid_unparse_lower(id, out);
}
