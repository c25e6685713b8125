/* Replaying dead letters (see dlq.h): the selection, fixed before the run,
 * goes in batches (or ramp steps) to each record's original exchange and
 * routing key with confirms, at most options->rate a second, with attempts
 * reset; a batch's records are marked replayed (by whom, when, which run)
 * only once all of it is confirmed, so a crash at any point can duplicate
 * a message (consumers are idempotent) but never lose one. A lost broker
 * connection is reconnected and the unconfirmed part sent again. After
 * each batch, and while a ramp step settles, the run counts its messages
 * that died again (new records linked to the ones it replayed) and stops
 * itself beyond options->max_failures. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker.h"
#include "core/log.h"
#include "dlq/dlq.h"
#include "dlq/internal.h"
#include "topology/topology.h"

#define BATCH_MAX 4000
#define RECONNECT_TRIES 5
#define RECONNECT_WINDOW_MS 60000
#define PENDING 1 /* a publish whose confirm has not come yet */

/* The UPDATE of one batch's records, run on a second connection. */
struct replay_marker {
    pthread_t thread;
    bool running;
    struct db_conn *db;
    char *ids; /* "{1,2,3}" (owned); NULL when no batch is being marked */
    const char *by, *run;
    size_t count;
    wr_status status;
    struct wr_error err;
};

struct replay {
    struct db_conn *db;
    struct replay_marker marker;
    const struct dlq_replay_options *opt;
    struct mq_conn *conn;
    struct mq_publisher *pub;
    char run[48];
    size_t selected, replayed, failed_again;
    int64_t started_ms;
    int64_t paced_from_ms;   /* the pace (opt->rate) counts from here */
    size_t paced;            /* messages paced since then */
    long long newest_at_start; /* the store's highest id when the run began */
    int64_t counted_at_ms;   /* when failed_again was last counted */
    char stop_reason[512];
};

/* Headers of the failed life that a replay starts afresh. */
static bool reset_header(const char *key)
{
    static const char *const reset[] = {
        "x-attempt",         "x-last-error",        "x-first-error",          "x-first-failed-at",
        "x-dead-reason",     "x-dead-at",           "x-original-exchange",    "x-original-routing-key",
        "x-death",           "x-replay-of",         "x-replay-run"};
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
        if (strcmp(key, reset[i]) == 0)
            return true;
    return false;
}

int64_t dlq_default_settle_ms(const char *topology_file)
{
    struct topo_model *model = NULL;
    struct topo_diags diags = {0};
    int64_t longest = 0;
    if (topo_load_file(topology_file, &model, &diags) == WR_OK)
        longest = topo_longest_retry_ms(model);
    topo_diags_free(&diags);
    topo_model_free(model);
    return longest + 5000;
}

static void on_confirm(void *publish_ctx, wr_status result, const struct wr_error *detail,
                       void *user)
{
    (void)user;
    struct wr_error *slot = publish_ctx;
    *slot = *detail;
    slot->code = result;
}

/* Row columns of batch_sql. */
enum { COL_ID, COL_EXCHANGE, COL_KEY, COL_MESSAGE_ID, COL_TYPE, COL_CORRELATION, COL_HEADERS,
       COL_BODY, COL_QUEUE };

static const char batch_sql[] =
    "SELECT id, original_exchange, original_routing_key, message_id, type, correlation_id,"
    " headers::text, body, queue FROM dead_letters"
    " WHERE id = ANY($1::bigint[]) AND status = 'dead' ORDER BY id";

/* warren's messages are JSON objects; a body that starts like one is sent
 * as application/json (the runtime decodes it either way). */
static bool looks_like_json(const unsigned char *body, size_t len)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    return i < len && (body[i] == '{' || body[i] == '[');
}

/* Publishes row i of rows; slot receives its confirm. */
static wr_status publish_row(struct replay *r, const struct db_result *rows, size_t i,
                             struct wr_error *slot, struct wr_error *err)
{
    struct mq_header headers[64];
    size_t n = 0, body_len = 0;
    char replay_of[24];
    const char *key;
    json_t *value;
    json_t *stored = json_loads(db_result_value(rows, i, COL_HEADERS), 0, NULL);
    unsigned char *body = db_result_bytes(rows, i, COL_BODY, &body_len);
    if (!body) {
        json_decref(stored);
        return wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    }
    snprintf(replay_of, sizeof replay_of, "%s", db_result_value(rows, i, COL_ID));
    json_object_foreach(stored, key, value)
    {
        if (n + 4 >= sizeof headers / sizeof headers[0] || reset_header(key))
            continue;
        if (json_is_integer(value))
            headers[n++] = (struct mq_header){
                .key = key, .kind = MQ_HEADER_INT, .integer = json_integer_value(value)};
        else if (json_is_string(value))
            headers[n++] = (struct mq_header){
                .key = key, .kind = MQ_HEADER_STRING, .string = json_string_value(value)};
    }
    headers[n++] = (struct mq_header){.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 1};
    headers[n++] = (struct mq_header){.key = "x-replay-of", .kind = MQ_HEADER_STRING,
                                      .string = replay_of};
    headers[n++] = (struct mq_header){.key = "x-replay-run", .kind = MQ_HEADER_STRING,
                                      .string = r->run};
    /* Without its origin (a dead letter from before warren kept it), the
     * message goes straight back to its queue. */
    const char *exchange = db_result_value(rows, i, COL_EXCHANGE);
    const char *routing_key = db_result_value(rows, i, COL_KEY);
    if (!exchange || !routing_key) {
        exchange = "";
        routing_key = db_result_value(rows, i, COL_QUEUE);
    }
    struct mq_message msg = {
        .exchange = exchange,
        .routing_key = routing_key,
        .body = body,
        .body_len = body_len,
        .message_id = db_result_value(rows, i, COL_MESSAGE_ID),
        .correlation_id = db_result_value(rows, i, COL_CORRELATION),
        .type = db_result_value(rows, i, COL_TYPE),
        .content_type = looks_like_json(body, body_len) ? "application/json" : NULL,
        .timestamp = (int64_t)time(NULL),
        .persistent = true,
        .headers = headers,
        .header_count = n,
    };
    slot->code = PENDING;
    wr_status status = mq_publish(r->pub, &msg, slot, err);
    json_decref(stored);
    free(body);
    return status;
}

/* Waits until the pace allows the next message: at most opt->rate a
 * second since the run's pace began, reading confirms meanwhile. */
static wr_status pace(struct replay *r, struct wr_error *err)
{
    if (r->opt->rate <= 0)
        return WR_OK;
    int64_t due = r->paced_from_ms + (int64_t)((double)r->paced++ * 1000.0 / r->opt->rate);
    for (int64_t now = mq_now_ms(); now < due; now = mq_now_ms()) {
        wr_status status = mq_publisher_poll(r->pub, due - now, err);
        if (status != WR_OK)
            return status;
    }
    return WR_OK;
}

/* One batch of the selection: its rows and each row's confirm. */
struct batch {
    struct db_result *rows;
    struct wr_error *slots; /* code PENDING until its confirm (or failure) is known */
    size_t count;
};

static void batch_free(struct batch *b)
{
    db_result_free(b->rows);
    free(b->slots);
    memset(b, 0, sizeof *b);
}

/* Reads the still-dead records of ids[0..count). */
static wr_status load_batch(struct replay *r, const int64_t *ids, size_t count, struct batch *b,
                            struct wr_error *err)
{
    memset(b, 0, sizeof *b);
    char *array = dlq_id_array(ids, count);
    if (!array)
        return wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    const char *params[] = {array};
    wr_status status = db_exec(r->db, batch_sql, 1, params, &b->rows, err);
    free(array);
    b->count = status == WR_OK ? db_result_rows(b->rows) : 0;
    b->slots = calloc(b->count ? b->count : 1, sizeof *b->slots);
    if (status == WR_OK && !b->slots)
        status = wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    for (size_t i = 0; status == WR_OK && i < b->count; i++)
        b->slots[i].code = PENDING;
    return status;
}

/* Publishes every row not yet confirmed (without waiting for confirms). */
static wr_status publish_batch(struct replay *r, struct batch *b, struct wr_error *err)
{
    wr_status status = WR_OK;
    for (size_t i = 0; i < b->count && status == WR_OK; i++) {
        if (b->slots[i].code == WR_OK)
            continue;
        status = pace(r, err);
        if (status == WR_OK)
            status = publish_row(r, b->rows, i, &b->slots[i], err);
    }
    return status;
}

/* Waits for the batch's confirms; when the connection dropped, reconnects
 * and publishes what was not confirmed again. */
static wr_status confirm_batch(struct replay *r, struct batch *b, wr_status published,
                               struct wr_error *err)
{
    wr_status status = published;
    for (int attempt = 0;; attempt++) {
        if (status == WR_OK)
            status = mq_publisher_flush(r->pub, 30000, err);
        bool lost = status == WR_ERR_CONNECTION;
        for (size_t i = 0; i < b->count; i++)
            lost = lost || b->slots[i].code == WR_ERR_CONNECTION || b->slots[i].code == PENDING;
        if (!lost || attempt == RECONNECT_TRIES)
            return status;
        wr_log(WR_LOG_WARN, "dlq", "replay %s: broker connection lost (%s); reconnecting", r->run,
               status == WR_OK ? "a publish was not confirmed" : err->message);
        status = mq_conn_reconnect(r->conn, mq_now_ms() + RECONNECT_WINDOW_MS, err);
        if (status == WR_OK)
            status = mq_publisher_resume(r->pub, err);
        if (status != WR_OK)
            return status;
        for (size_t i = 0; i < b->count; i++)
            if (b->slots[i].code != WR_OK)
                b->slots[i].code = PENDING;
        status = publish_batch(r, b, err);
    }
}

static const char mark_sql[] = "UPDATE dead_letters SET status = 'replayed', replayed_at = now(),"
                               " replayed_by = $2, replay_run = $3"
                               " WHERE id = ANY($1::bigint[]) AND status = 'dead'";

static void *mark_in_background(void *arg)
{
    struct replay_marker *m = arg;
    const char *params[] = {m->ids, m->by, m->run};
    m->status = db_exec(m->db, mark_sql, 3, params, NULL, &m->err);
    return NULL;
}

/* Collects the batch being marked (waiting for its thread, if any). */
static wr_status mark_wait(struct replay *r, struct wr_error *err)
{
    struct replay_marker *m = &r->marker;
    if (!m->ids)
        return WR_OK;
    if (m->running)
        pthread_join(m->thread, NULL);
    m->running = false;
    free(m->ids);
    m->ids = NULL;
    if (m->status != WR_OK) {
        *err = m->err;
        return m->status;
    }
    r->replayed += m->count;
    return WR_OK;
}

/* Marks what the broker confirmed replayed (even when the rest failed); a
 * row that was not confirmed sets the stop reason. With options->mark_db
 * the UPDATE runs on that connection in the background (mark_wait collects
 * it) while the run goes on with the next batch on its own. */
static wr_status mark_batch(struct replay *r, const struct batch *b, struct wr_error *err)
{
    struct replay_marker *m = &r->marker;
    wr_status status = mark_wait(r, err);
    int64_t *confirmed = malloc((b->count ? b->count : 1) * sizeof *confirmed);
    size_t n = 0;
    if (status != WR_OK || !confirmed) {
        free(confirmed);
        return status != WR_OK ? status : wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    }
    for (size_t i = 0; i < b->count; i++) {
        if (b->slots[i].code == WR_OK)
            confirmed[n++] = strtoll(db_result_value(b->rows, i, COL_ID), NULL, 10);
        else if (!r->stop_reason[0])
            snprintf(r->stop_reason, sizeof r->stop_reason, "dead letter %s was not replayed: %.400s",
                     db_result_value(b->rows, i, COL_ID),
                     b->slots[i].code == PENDING ? "no confirm" : b->slots[i].message);
    }
    char *array = n ? dlq_id_array(confirmed, n) : NULL;
    free(confirmed);
    if (!n)
        return WR_OK;
    if (!array)
        return wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    *m = (struct replay_marker){.db = r->opt->mark_db, .ids = array, .by = r->opt->by,
                                .run = r->run, .count = n};
    m->running = m->db && pthread_create(&m->thread, NULL, mark_in_background, m) == 0;
    if (m->running)
        return WR_OK;
    m->db = r->db; /* no second connection (or no thread): mark here */
    mark_in_background(m);
    return mark_wait(r, err);
}

/* Counts the run's replayed messages that died again: new records (made
 * since the run began) linked to a record this run replayed. */
static wr_status count_failed_again(struct replay *r, struct wr_error *err)
{
    struct db_result *res = NULL;
    char newest[24];
    snprintf(newest, sizeof newest, "%lld", (long long)r->newest_at_start);
    const char *params[] = {r->run, newest};
    wr_status status = db_exec(r->db,
                               "SELECT count(*) FROM dead_letters again JOIN dead_letters replayed"
                               " ON again.previous_id = replayed.id"
                               " WHERE again.id > $2::bigint AND replayed.replay_run = $1",
                               2, params, &res, err);
    if (status == WR_OK)
        r->failed_again = (size_t)strtoull(db_result_value(res, 0, 0), NULL, 10);
    r->counted_at_ms = mq_now_ms();
    db_result_free(res);
    return status;
}

static void report(struct replay *r, const char *phase)
{
    if (!r->opt->progress)
        return;
    double seconds = (double)(mq_now_ms() - r->started_ms) / 1000.0;
    struct dlq_replay_progress p = {
        .selected = r->selected,
        .replayed = r->replayed,
        .failed_again = r->failed_again,
        .rate_per_s = seconds > 0 ? (double)r->replayed / seconds : 0,
        .phase = phase,
    };
    r->opt->progress(&p, r->opt->user);
}

/* True (and the reason set) once too many replayed messages died again. */
static bool too_many_failures(struct replay *r)
{
    if ((long)r->failed_again <= r->opt->max_failures)
        return false;
    snprintf(r->stop_reason, sizeof r->stop_reason,
             "%zu replayed message%s died again (more than %ld): the cause is not fixed",
             r->failed_again, r->failed_again == 1 ? "" : "s", r->opt->max_failures);
    return true;
}

/* After a ramp step: waits settle_ms, watching for re-failures. */
static wr_status settle(struct replay *r, struct wr_error *err)
{
    int64_t until = mq_now_ms() + r->opt->settle_ms;
    while (mq_now_ms() < until && !too_many_failures(r)) {
        if (r->opt->interrupted && *r->opt->interrupted)
            return WR_OK;
        int64_t wait = until - mq_now_ms();
        wr_status status = mq_publisher_poll(r->pub, wait < 1000 ? wait : 1000, err);
        if (status == WR_OK)
            status = count_failed_again(r, err);
        if (status != WR_OK)
            return status;
        report(r, "settling");
    }
    return WR_OK;
}

/* The batches of the selection, in order. The first ramp_count are the
 * ramp's steps, each settled before the next; after them, batches are
 * pipelined: the next batch is read while the current one's confirms
 * arrive, and published before the current one is marked, so the broker
 * and the database work at the same time. */
static wr_status run(struct replay *r, const struct dlq_selection *selection,
                     struct wr_error *err)
{
    size_t batch = r->opt->rate > 0 && r->opt->rate < BATCH_MAX ? (size_t)r->opt->rate : BATCH_MAX;
    size_t position = 0, step = 0;
    struct batch cur = {0}, next = {0};
    char phase[64];
    wr_status status = WR_OK, published = WR_OK;
    bool have_cur = false;
    if (batch == 0)
        batch = 1;
    r->paced_from_ms = mq_now_ms();
    while (status == WR_OK) {
        bool ramping = step < r->opt->ramp_count;
        if (!have_cur) { /* start (or restart after a ramp step): read and send one */
            if (position == selection->count)
                break;
            size_t size = ramping ? (size_t)r->opt->ramp[step] : batch;
            size = size < selection->count - position ? size : selection->count - position;
            status = load_batch(r, selection->ids + position, size, &cur, err);
            position += size;
            published = status == WR_OK ? publish_batch(r, &cur, err) : status;
            have_cur = status == WR_OK;
            if (!have_cur)
                break;
        }
        /* Read the next batch while this one's confirms come in. */
        bool pipelined = !ramping && position < selection->count;
        if (pipelined) {
            size_t size = batch < selection->count - position ? batch : selection->count - position;
            status = load_batch(r, selection->ids + position, size, &next, err);
            position += size;
        }
        if (status == WR_OK)
            status = confirm_batch(r, &cur, published, err);
        bool clean = status == WR_OK;
        for (size_t i = 0; clean && i < cur.count; i++)
            clean = cur.slots[i].code == WR_OK;
        bool go_on = clean && !(r->opt->interrupted && *r->opt->interrupted);
        if (pipelined && go_on)
            published = publish_batch(r, &next, err);
        wr_status marked = mark_batch(r, &cur, err);
        if (status == WR_OK)
            status = marked;
        if (status == WR_OK && r->stop_reason[0])
            status = wr_error_set(err, WR_ERR_IO, "%s", r->stop_reason);
        if (status == WR_OK && ramping)
            status = mark_wait(r, err); /* the step's records are marked before it settles */
        if (status == WR_OK && (ramping || mq_now_ms() - r->counted_at_ms >= 1000))
            status = count_failed_again(r, err);
        if (ramping)
            snprintf(phase, sizeof phase, "step %zu/%zu (%ld)", step + 1, r->opt->ramp_count,
                     r->opt->ramp[step]);
        report(r, ramping ? phase : "batch");
        batch_free(&cur);
        have_cur = pipelined && go_on && status == WR_OK;
        if (have_cur)
            cur = next;
        else
            batch_free(&next);
        memset(&next, 0, sizeof next);
        if (status == WR_OK && ramping && position < selection->count)
            status = settle(r, err);
        if (status != WR_OK || too_many_failures(r))
            break;
        if (r->opt->interrupted && *r->opt->interrupted) {
            snprintf(r->stop_reason, sizeof r->stop_reason, "interrupted");
            break;
        }
        step += ramping;
    }
    /* A batch published but never confirmed and marked is left dead: a
     * later run sends it again (consumers drop the duplicate). */
    batch_free(&cur);
    wr_status marked = mark_wait(r, status == WR_OK ? err : &(struct wr_error){0});
    return status == WR_OK ? marked : status;
}

static wr_status dry_run(struct replay *r, const struct dlq_selection *selection, json_t *outcome,
                         struct wr_error *err)
{
    struct db_result *res = NULL;
    char *array = dlq_id_array(selection->ids, selection->count);
    if (!array)
        return wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    const char *params[] = {array};
    wr_status status = db_exec(
        r->db,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'queue', queue, 'type', type,"
        " 'correlation_id', correlation_id, 'exchange', original_exchange,"
        " 'routing_key', original_routing_key) ORDER BY id), '[]')::text"
        " FROM dead_letters WHERE id = ANY($1::bigint[]) AND status = 'dead'",
        1, params, &res, err);
    if (status == WR_OK)
        json_object_set_new(outcome, "would_replay",
                            json_loads(db_result_value(res, 0, 0), 0, NULL));
    db_result_free(res);
    free(array);
    return status;
}

static wr_status newest_record(struct replay *r, struct wr_error *err)
{
    struct db_result *res = NULL;
    wr_status status =
        db_exec(r->db, "SELECT coalesce(max(id), 0) FROM dead_letters", 0, NULL, &res, err);
    if (status == WR_OK)
        r->newest_at_start = strtoll(db_result_value(res, 0, 0), NULL, 10);
    db_result_free(res);
    return status;
}

static wr_status connect_broker(struct replay *r, struct wr_error *err)
{
    struct mq_conn_options conn = {.url = r->opt->broker_url, .name = "warren dlq replay",
                                   .heartbeat_s = 30};
    struct mq_publisher_options pub = {.max_in_flight = 2 * BATCH_MAX, .on_confirm = on_confirm};
    if (!(r->conn = mq_conn_open(&conn, err)) ||
        !(r->pub = mq_publisher_create(r->conn, &pub, err)))
        return err->code;
    return WR_OK;
}

wr_status dlq_replay(struct db_conn *db, const struct dlq_selection *selection,
                     const struct dlq_replay_options *options, json_t **outcome,
                     struct wr_error *err)
{
    struct replay r = {.db = db, .opt = options, .selected = selection->count,
                       .started_ms = mq_now_ms()};
    wr_status status = WR_OK;
    for (size_t i = 0; i < options->ramp_count; i++)
        if (options->ramp[i] < 1)
            return wr_error_set(err, WR_ERR_INVALID, "ramp: steps are whole numbers above 0");
    snprintf(r.run, sizeof r.run, "%lld-%d-%ld", (long long)time(NULL), (int)getpid(),
             (long)(mq_now_ms() % 100000));
    *outcome = json_pack("{s:s, s:I, s:O}", "run", r.run, "selected", (json_int_t)selection->count,
                         "skipped", selection->skipped ? selection->skipped : json_array());
    if (!*outcome)
        return wr_error_set(err, WR_ERR_NOMEM, "replay: out of memory");
    if (options->dry_run) {
        status = dry_run(&r, selection, *outcome, err);
    } else {
        if (selection->count)
            status = connect_broker(&r, err);
        if (status == WR_OK)
            status = newest_record(&r, err);
        if (status == WR_OK) {
            wr_log(WR_LOG_INFO, "dlq", "replay %s by %s: %zu dead letters", r.run,
                   options->by ? options->by : "?", selection->count);
            status = run(&r, selection, err);
        }
        mq_publisher_destroy(r.pub);
        mq_conn_close(r.conn);
        wr_log(WR_LOG_INFO, "dlq", "replay %s: %zu of %zu replayed, %zu died again%s%s", r.run,
               r.replayed, r.selected, r.failed_again, r.stop_reason[0] ? "; stopped: " : "",
               r.stop_reason);
    }
    json_object_set_new(*outcome, "replayed", json_integer((json_int_t)r.replayed));
    json_object_set_new(*outcome, "failed_again", json_integer((json_int_t)r.failed_again));
    json_object_set_new(*outcome, "stopped", json_boolean(r.stop_reason[0]));
    json_object_set_new(*outcome, "reason",
                        r.stop_reason[0] ? json_string(r.stop_reason) : json_null());
    return status;
}
