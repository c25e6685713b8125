/* The one consume loop of warren (every service runs on it).
 *
 * Why it is shaped this way: delivery is at least once, and a process can
 * die at any instant. So for each message the runtime
 *   1. opens a transaction and inserts the message's dedupe key into the
 *      inbox; a key seen before means the effect is already committed;
 *   2. lets the service do its effect and write the messages it wants
 *      sent into the outbox, in the same transaction, and commits;
 *   3. publishes that key's unpublished outbox rows with confirms, deletes
 *      them from the outbox, and only then acks the delivery.
 * A crash before 2 commits changes nothing; after it, the redelivered
 * message finds its key in the inbox, skips the effect and goes on at 3.
 * Failures leave through retry tiers or the dead-letter queue, and the
 * copy there is confirmed before the original is acked.
 *
 * Outage mode (outage.h): when the handler keeps failing on its downstream,
 * moving every message along the tiers only burns attempts. So after
 * worker.outage_threshold such failures in a row the failing message is
 * handed back uncharged (nack with requeue: its x-attempt is unchanged),
 * the consumer is cancelled (what it holds is handed back too), and after
 * a pause one message is taken as a probe (prefetch 1, consumer cancelled
 * as soon as it arrives). A probe that succeeds restores the consumer at
 * the queue's prefetch; one that fails is handed back and the pause
 * doubles. Nothing is held unacked while the worker waits. */
#include "workers/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "topology/topology.h"
#include "workers/internal.h"
#include "workers/metrics.h"
#include "workers/outage.h"
#include "workers/services.h"

#define RELAY_BATCH 500
#define BATCH_MAX 100 /* deliveries handled before one wait for confirms */
#define DRAIN_QUIET_MS 1500 /* on SIGTERM, stop once nothing arrived for this long */
/* On SIGTERM, before the cancel (see drain()): how long without a delivery
 * counts as "nothing in flight to us", and how long filling may take. The
 * quiet spell outlasts the broker's stalls of a few hundred milliseconds
 * on a slow disk, during which a quorum queue holds back deliveries it
 * then sends after our cancel (a redelivery). */
#define DRAIN_FILL_QUIET_MS 1000
#define DRAIN_FILL_MAX_MS 5000

struct worker {
    const struct wrk_options *opt;
    const struct wrk_service *service;
    void *state;
    struct topo_model *model;
    const struct topo_queue *queue;
    struct topo_queue dead_queue; /* when consuming "Q.dead" (see dead_queue_of) */
    struct db_conn *db;
    struct mq_conn *consume_conn;
    struct mq_conn *publish_conn;
    struct mq_consumer *consumer;
    struct mq_publisher *publisher;
    uint16_t prefetch; /* of the consumer's current (or next) start */
    struct wrk_outage outage;
    struct wrk_metrics *metrics; /* NULL before setup (its functions accept NULL) */
    sigset_t signals;
    bool stopping;
    /* outcome of the publishes since the last flush */
    wr_status publish_failure;
    struct wr_error publish_error;
};

static void on_confirm(void *publish_ctx, wr_status result, const struct wr_error *detail,
                       void *user)
{
    struct worker *w = user;
    (void)publish_ctx;
    if (result != WR_OK && w->publish_failure == WR_OK) {
        w->publish_failure = result;
        w->publish_error = *detail;
    }
}

/* Waits for every publish since the last call; WR_OK only if all were confirmed. */
static wr_status confirm_all(struct worker *w, struct wr_error *err)
{
    wr_status status = mq_publisher_flush(w->publisher, 30000, err);
    if (status == WR_OK && w->publish_failure != WR_OK) {
        status = w->publish_failure;
        if (err)
            *err = w->publish_error;
    }
    w->publish_failure = WR_OK;
    return status;
}

static void sleep_ms(int64_t ms)
{
    struct timespec pause = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

/* True once SIGTERM or SIGINT arrived (they are blocked and polled here). */
static bool stop_requested(struct worker *w)
{
    struct timespec now = {0};
    int sig = sigtimedwait(&w->signals, NULL, &now);
    if ((sig == SIGTERM || sig == SIGINT) && !w->stopping) {
        wr_log(WR_LOG_INFO, "runtime", "%s: finishing in-flight work",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
        w->stopping = true;
    }
    return w->stopping;
}

/* ---- publishing ------------------------------------------------------------ */

static wr_status publish_outbound(struct worker *w, const struct wrk_outbound *row,
                                  struct wr_error *err)
{
    struct mq_header headers[MQ_ENVELOPE_HEADERS];
    struct mq_message msg = {
        .exchange = cfg_str(w->opt->cfg, CFG_BROKER_EXCHANGE),
        .type = row->type,
        .body = row->body,
        .body_len = strlen(row->body),
        .message_id = row->message_id,
        .correlation_id = row->order_id,
    };
    mq_envelope(&msg, headers, row->traceparent, row->storefront);
    return mq_publish(w->publisher, &msg, NULL, err);
}

/* Sends rows, waits for their confirms and deletes them from the outbox. */
static wr_status publish_rows(struct worker *w, const struct wrk_rows *rows, struct wr_error *err)
{
    wr_status status = WR_OK;
    for (size_t i = 0; status == WR_OK && i < rows->count; i++)
        status = publish_outbound(w, &rows->rows[i], err);
    if (status == WR_OK)
        status = confirm_all(w, err);
    if (status == WR_OK && rows->count > 0)
        status = wrk_store_delete_published(w->db, rows, err);
    return status;
}

/* ---- failures: retry tiers and the dead-letter queue ---------------------- */

/* Copies the delivery's headers, then sets or keeps warren's own. */
static size_t failure_headers(const struct wrk_incoming *in, const char *why, bool dead,
                              struct mq_header *out, size_t max, char *now)
{
    static const char *const ours[] = {"x-attempt", "x-last-error", "x-dead-reason", "x-dead-at"};
    const struct mq_delivery *d = in->delivery;
    size_t n = 0;
    for (size_t i = 0; i < d->header_count && n + 8 < max; i++) {
        bool replaced = false;
        for (size_t j = 0; j < sizeof ours / sizeof ours[0]; j++)
            replaced = replaced || strcmp(d->headers[i].key, ours[j]) == 0;
        if (!replaced && strcmp(d->headers[i].key, "x-death") != 0)
            out[n++] = d->headers[i];
    }
    out[n++] = (struct mq_header){.key = "x-attempt", .kind = MQ_HEADER_INT,
                                  .integer = dead ? in->msg.attempt : in->msg.attempt + 1};
    out[n++] = (struct mq_header){.key = "x-last-error", .kind = MQ_HEADER_STRING, .string = why};
    if (!mq_delivery_header(d, "x-first-error"))
        out[n++] =
            (struct mq_header){.key = "x-first-error", .kind = MQ_HEADER_STRING, .string = why};
    if (!mq_delivery_header(d, "x-first-failed-at"))
        out[n++] = (struct mq_header){.key = "x-first-failed-at", .kind = MQ_HEADER_STRING,
                                      .string = now};
    if (!mq_delivery_header(d, "x-original-exchange")) {
        out[n++] = (struct mq_header){.key = "x-original-exchange", .kind = MQ_HEADER_STRING,
                                      .string = d->exchange ? d->exchange : ""};
        out[n++] = (struct mq_header){.key = "x-original-routing-key", .kind = MQ_HEADER_STRING,
                                      .string = d->routing_key ? d->routing_key : ""};
    }
    if (dead) {
        out[n++] =
            (struct mq_header){.key = "x-dead-reason", .kind = MQ_HEADER_STRING, .string = why};
        out[n++] = (struct mq_header){.key = "x-dead-at", .kind = MQ_HEADER_STRING, .string = now};
    }
    return n;
}

/* Sends the delivery to its next retry tier, or to the dead-letter queue
 * when permanent or out of attempts. The caller confirms it (confirm_all)
 * before acking the original. */
static wr_status move_failed(struct worker *w, const struct wrk_incoming *in, bool permanent,
                             const char *why, bool *dead, struct wr_error *err)
{
    const struct mq_delivery *d = in->delivery;
    char target[300], now[WR_RFC3339_SIZE];
    int tier = permanent ? -1 : topo_retry_tier(w->queue, in->msg.attempt);
    wr_status status = tier >= 0 ? topo_retry_queue_name(w->queue->name,
                                                         w->queue->retry_delays_ms[tier], target,
                                                         sizeof target)
                                 : topo_dead_queue_name(w->queue->name, target, sizeof target);
    if (status != WR_OK)
        return wr_error_set(err, status, "queue name too long");
    *dead = tier < 0;
    wr_rfc3339_now(now);
    struct mq_header headers[64];
    size_t count = failure_headers(in, why, tier < 0, headers, 64, now);
    struct mq_message msg = {
        .exchange = "", .routing_key = target, .body = d->body, .body_len = d->body_len,
        .message_id = d->message_id ? d->message_id : "unknown", .correlation_id = d->correlation_id,
        .type = d->type, .content_type = d->content_type, .timestamp = d->timestamp,
        .persistent = true, .headers = headers, .header_count = count,
    };
    wr_log(tier >= 0 ? WR_LOG_INFO : WR_LOG_WARN, "runtime", "%s %s (attempt %d) -> %s: %s",
           in->msg.type ? in->msg.type : "message", in->msg.order_id ? in->msg.order_id : "?",
           in->msg.attempt, target, why);
    return mq_publish(w->publisher, &msg, NULL, err);
}

/* ---- one delivery ------------------------------------------------------------ */

enum step_result { STEP_ACK, STEP_REQUEUE, STEP_FAILED };

/* What run_step made of a delivery, besides its step_result. */
struct step_report {
    struct wr_error why;         /* STEP_FAILED: why */
    bool permanent;              /* STEP_FAILED: retrying cannot help */
    enum wrk_outage_event event; /* what it says about the downstream */
    const char *downstream;      /* WRK_DOWNSTREAM: the downstream named, or NULL */
    bool duplicate;              /* STEP_ACK: the inbox had the key already */
};

enum wrk_outcome wrk_step_downstream_failed(struct wrk_step *step, const char *name)
{
    step->downstream = name;
    return WRK_DOWNSTREAM;
}

/* Runs steps 1-2 of the header comment and fills report. The step's
 * outbox rows, written with its commit in one round trip, stay in emitted
 * to be published from memory; a step that does not commit drops them. */
static enum step_result run_step(struct worker *w, struct wrk_incoming *in,
                                 struct step_report *report, struct wrk_rows *emitted)
{
    struct wr_error err;
    bool fresh = false;
    size_t emitted_before = emitted->count;
    fresh = w->service->raw; /* a raw service detects duplicates itself */
    if (db_begin(w->db, &err) != WR_OK ||
        (!w->service->raw && wrk_store_claim(w->db, in, &fresh, &err) != WR_OK)) {
        db_rollback(w->db);
        wr_log(WR_LOG_WARN, "runtime", "database: %s", err.message);
        return STEP_REQUEUE;
    }
    report->duplicate = !fresh;
    enum wrk_outcome outcome = WRK_DONE;
    if (fresh) {
        struct wrk_step step = {.db = w->db, .in = in, .emitted = emitted};
        wr_error_clear(&report->why);
        outcome = w->service->handle(w->state, &in->msg, &step, &report->why);
        report->event = outcome == WRK_DONE         ? WRK_OUTAGE_SUCCESS
                        : outcome == WRK_DOWNSTREAM ? WRK_OUTAGE_DOWNSTREAM
                                                    : WRK_OUTAGE_NEUTRAL;
        report->downstream = step.downstream;
    }
    if (outcome == WRK_DONE) {
        wrk_crash_point(w->service->name, "before_commit");
        if (wrk_store_commit(w->db, in, emitted, emitted_before, &err) != WR_OK) {
            report->event = WRK_OUTAGE_NEUTRAL;
            if (err.code == WR_ERR_CONNECTION || err.code == WR_ERR_RETRY) {
                db_rollback(w->db);
                wrk_rows_truncate(emitted, emitted_before);
                wr_log(WR_LOG_WARN, "runtime", "commit: %s", err.message);
                return STEP_REQUEUE;
            }
            /* a statement the handler queued (db_exec_later) was refused:
             * the handler's failure, as if its own call had returned it */
            outcome = wrk_db_failed(&report->why, w->service->name, &err);
        }
    }
    if (outcome != WRK_DONE) {
        db_rollback(w->db);
        wrk_rows_truncate(emitted, emitted_before);
        report->permanent = outcome == WRK_PERMANENT;
        return STEP_FAILED;
    }
    wrk_crash_point(w->service->name, "after_commit");
    return STEP_ACK;
}

static wr_status settle(struct worker *w, const struct mq_delivery *d, bool ack)
{
    struct wr_error err;
    wr_status status = ack ? mq_ack(w->consumer, d->delivery_tag, &err)
                           : mq_nack(w->consumer, d->delivery_tag, true, &err);
    if (status != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "%s failed: %s", ack ? "ack" : "nack", err.message);
    return status;
}

/* Acks last and every unsettled delivery before it on its channel. */
static wr_status settle_through(struct worker *w, const struct mq_delivery *last)
{
    struct wr_error err;
    wr_status status = mq_ack_through(w->consumer, last->delivery_tag, &err);
    if (status != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "ack failed: %s", err.message);
    return status;
}

/* What becomes of one delivery of a batch. */
enum settlement {
    SETTLE_ACK,     /* ack once everything the batch sent is confirmed */
    SETTLE_RETRIED, /* moved to a retry tier: ack once the copy is confirmed */
    SETTLE_DEAD,    /* moved to the dead-letter queue: ack once the copy is confirmed */
    SETTLE_REQUEUE, /* nack with requeue: it will be handled again */
    SETTLE_RETURN,  /* outage mode: nack with requeue, no attempt charged */
};

struct batch {
    struct mq_delivery *deliveries[BATCH_MAX];
    enum settlement settle[BATCH_MAX];
    size_t count;
    struct wrk_rows rows; /* outbox rows the batch's committed steps wrote */
    json_t *duplicates;   /* dedupe keys seen before: their unpublished rows go out too */
};

/* ---- outage mode ----------------------------------------------------------------- */

static void log_outage(struct worker *w, enum wr_log_level level, const char *what, int consecutive)
{
    const struct wrk_outage *o = &w->outage;
    int64_t now = wr_monotonic_ms();
    struct wr_log_field fields[] = {
        {.key = "service", .text = w->service->name},
        {.key = "queue", .text = w->queue->name},
        {.key = "downstream", .text = o->downstream},
        {.key = "consecutive_failures", .number = consecutive},
        {.key = "probes", .number = (long long)o->probes},
        {.key = o->state == WRK_OUTAGE_NONE ? "outage_ms" : "next_probe_ms",
         .number = o->state == WRK_OUTAGE_NONE ? now - o->entered_ms : o->probe_at_ms - now},
    };
    wr_log_fields(level, "runtime", what, fields, sizeof fields / sizeof fields[0]);
}

/* Records what one handled delivery said about the downstream, logs a
 * transition, and returns what outage mode wants done with it. */
static enum wrk_outage_change note_outage(struct worker *w, const struct step_report *report)
{
    int before = w->outage.consecutive;
    enum wrk_outage_change change =
        wrk_outage_record(&w->outage, report->event, report->downstream, wr_monotonic_ms());
    if (change == WRK_OUTAGE_ENTER)
        log_outage(w, WR_LOG_WARN, "outage entered", w->outage.consecutive);
    else if (change == WRK_OUTAGE_BACKOFF)
        log_outage(w, WR_LOG_INFO, "outage probe failed", w->outage.consecutive);
    else if (change == WRK_OUTAGE_LEAVE)
        log_outage(w, WR_LOG_INFO, "outage left", before);
    wrk_metrics_outage(w->metrics, &w->outage);
    return change;
}

/* Hands a delivery back to its queue without handling it (outage mode). */
static void hand_back(struct worker *w, struct mq_delivery *d)
{
    struct wr_error err;
    if (mq_nack(w->consumer, d->delivery_tag, true, &err) != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "nack failed: %s", err.message);
    wrk_metrics_count(w->metrics, WRK_METRIC_RETURNED);
    mq_delivery_free(d);
}

/* Stops the consumer and hands back what it had been sent (after the
 * cancel-ok every earlier delivery is already buffered). False when the
 * link failed (the loop reconnects). */
static bool stop_consuming(struct worker *w)
{
    struct wr_error err;
    struct mq_delivery *d = NULL;
    if (mq_consumer_cancel(w->consumer, &err) != WR_OK) {
        wr_log(WR_LOG_WARN, "runtime", "cancel consumer: %s", err.message);
        return false;
    }
    while (mq_consumer_next(w->consumer, 0, &d, &err) == WR_OK)
        hand_back(w, d);
    return true;
}

/* Makes the consumer match the outage state: consuming at the queue's
 * prefetch (normal), not consuming (paused), or one message at a time
 * (probing). A failure is logged; the loop then finds the link down. */
static void sync_consumer(struct worker *w)
{
    struct wr_error err;
    bool consume = w->outage.state != WRK_OUTAGE_PAUSED;
    uint16_t want = w->outage.state == WRK_OUTAGE_PROBING ? 1 : (uint16_t)w->queue->prefetch;
    bool consuming = mq_consumer_is_consuming(w->consumer);
    if (consuming && (!consume || w->prefetch != want)) {
        if (!stop_consuming(w))
            return;
        consuming = false;
    }
    if (!consume || consuming)
        return;
    mq_consumer_set_prefetch(w->consumer, want);
    w->prefetch = want;
    if (mq_consumer_resume(w->consumer, &err) != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "consume again: %s", err.message);
}

/* ---- one delivery, and batches ----------------------------------------------------- */

/* Steps 1-2 for one delivery, and the move of a failed one. */
static enum settlement handle_one(struct worker *w, const struct mq_delivery *d, struct batch *b)
{
    struct wrk_incoming in;
    struct step_report report = {.permanent = true, .event = WRK_OUTAGE_NEUTRAL};
    struct wr_error err;
    enum step_result result = STEP_FAILED;
    enum settlement settle = SETTLE_ACK;
    if (wrk_incoming_decode(d, w->service->raw, &in) != WR_OK)
        wr_error_set(&report.why, WR_ERR_INVALID, "%s", in.why_undecodable);
    else
        result = run_step(w, &in, &report, &b->rows);
    enum wrk_outage_change change = note_outage(w, &report);
    const char *why = report.why.message[0] ? report.why.message : "failed";
    bool dead = false;
    if (result == STEP_ACK) {
        if (report.duplicate)
            json_array_append_new(b->duplicates, json_string(in.dedupe_key));
    } else if (change == WRK_OUTAGE_ENTER || change == WRK_OUTAGE_BACKOFF) {
        settle = SETTLE_RETURN; /* the downstream is down: not the message's fault */
    } else if (result == STEP_REQUEUE || w->service->raw) {
        if (result == STEP_FAILED)
            wr_log(WR_LOG_WARN, "runtime", "requeued a dead letter: %s", why);
        settle = SETTLE_REQUEUE; /* a dead letter is never moved on again */
    } else if (move_failed(w, &in, report.permanent, why, &dead, &err) != WR_OK) {
        wr_log(WR_LOG_WARN, "runtime", "could not move a failed message: %s", err.message);
        settle = SETTLE_REQUEUE;
    } else {
        settle = dead ? SETTLE_DEAD : SETTLE_RETRIED;
    }
    wrk_incoming_clear(&in);
    return settle;
}

static enum wrk_metric metric_of(enum settlement settle, bool acked)
{
    if (!acked)
        return settle == SETTLE_RETURN ? WRK_METRIC_RETURNED : WRK_METRIC_REQUEUED;
    return settle == SETTLE_RETRIED ? WRK_METRIC_RETRIED
           : settle == SETTLE_DEAD  ? WRK_METRIC_DEAD
                                    : WRK_METRIC_ACKED;
}

/* Step 3 for a whole batch: one wait for every confirm, then the acks.
 * Handling deliveries in batches lets a busy worker pay the broker's
 * confirm latency once per batch instead of once per message. The rows the
 * steps wrote are kept in memory and published from there; only the keys
 * of duplicates (whose rows a crash may have left unpublished) are looked
 * up in the outbox. The delete is committed before the acks, so a worker
 * that dies after it has nothing to publish again. */
static void finish_batch(struct worker *w, struct batch *b)
{
    size_t added = 0;
    struct wr_error err;
    wr_status status = WR_OK;
    if (json_array_size(b->duplicates) > 0) {
        char *keys = json_dumps(b->duplicates, JSON_COMPACT);
        status = keys ? wrk_store_pending(w->db, keys, RELAY_BATCH, &b->rows, &added, &err)
                      : wr_error_set(&err, WR_ERR_NOMEM, "out of memory");
        free(keys);
    }
    if (status == WR_OK)
        status = publish_rows(w, &b->rows, &err);
    wrk_rows_truncate(&b->rows, 0);
    if (status != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "publishing next messages: %s", err.message);
    else
        wrk_crash_point(w->service->name, "after_publish");
    /* every delivery before the batch is settled, so when the whole batch
     * is acked one basic.ack (multiple) settles it: one frame, and one
     * settle command in the quorum queue's log, instead of one per message */
    bool all_acked = status == WR_OK && b->count > 1;
    for (size_t i = 0; i < b->count; i++)
        all_acked = all_acked && b->settle[i] <= SETTLE_DEAD;
    if (all_acked)
        (void)settle_through(w, b->deliveries[b->count - 1]);
    bool requeued = status != WR_OK;
    for (size_t i = 0; i < b->count; i++) {
        bool ack = status == WR_OK && b->settle[i] <= SETTLE_DEAD;
        requeued = requeued || (!ack && b->settle[i] != SETTLE_RETURN);
        if (!all_acked)
            (void)settle(w, b->deliveries[i], ack);
        wrk_metrics_count(w->metrics, metric_of(b->settle[i], ack));
        mq_delivery_free(b->deliveries[i]);
    }
    b->count = 0;
    json_array_clear(b->duplicates);
    if (requeued)
        sleep_ms(200); /* the database or broker is struggling: do not spin */
}

/* Handles first and whatever else has already arrived, up to BATCH_MAX.
 * In outage mode: while paused, deliveries are handed back unhandled; a
 * probe is handled alone, with the consumer stopped first so that nothing
 * else arrives meanwhile; and a batch that enters outage stops there. */
static void handle_batch(struct worker *w, struct batch *b, struct mq_delivery *first)
{
    struct wr_error err;
    struct mq_delivery *d = first;
    if (w->outage.state == WRK_OUTAGE_PAUSED) {
        hand_back(w, first);
        return;
    }
    bool probe = w->outage.state == WRK_OUTAGE_PROBING;
    if (probe)
        (void)stop_consuming(w);
    while (d) {
        b->settle[b->count] = handle_one(w, d, b);
        b->deliveries[b->count++] = d;
        d = NULL;
        if (probe || w->outage.state != WRK_OUTAGE_NONE || b->count == BATCH_MAX)
            break;
        if (mq_consumer_next(w->consumer, 0, &d, &err) != WR_OK)
            d = NULL;
    }
    finish_batch(w, b);
}

/* ---- connections --------------------------------------------------------------- */

static struct mq_conn_options conn_options(const struct worker *w, const char *role)
{
    const struct cfg *cfg = w->opt->cfg;
    static char names[2][96];
    char *name = names[role[0] == 'p'];
    snprintf(name, sizeof names[0], "warren-worker %s %s", w->service->name, role);
    return (struct mq_conn_options){
        .url = cfg_str(cfg, CFG_BROKER_URL),
        .name = name,
        .heartbeat_s = (int)(cfg_int(cfg, CFG_BROKER_HEARTBEAT) / 1000),
        .connect_timeout_ms = cfg_int(cfg, CFG_BROKER_CONNECT_TIMEOUT),
        .reconnect_max_backoff_ms = cfg_int(cfg, CFG_BROKER_RECONNECT_MAX_BACKOFF),
    };
}

static wr_status connect_broker(struct worker *w, struct wr_error *err)
{
    struct mq_conn_options consume = conn_options(w, "consume");
    struct mq_conn_options publish = conn_options(w, "publish");
    struct mq_publisher_options pub = {
        .max_in_flight = 1024,
        .confirm_timeout_ms = cfg_int(w->opt->cfg, CFG_BROKER_CONFIRM_TIMEOUT),
        .on_confirm = on_confirm,
        .user = w,
    };
    if (!(w->publish_conn = mq_conn_open(&publish, err)) ||
        !(w->publisher = mq_publisher_create(w->publish_conn, &pub, err)) ||
        !(w->consume_conn = mq_conn_open(&consume, err)))
        return err->code;
    return WR_OK;
}

static wr_status start_consuming(struct worker *w, struct wr_error *err)
{
    w->prefetch = (uint16_t)w->queue->prefetch;
    w->consumer = mq_consumer_create(w->consume_conn, w->queue->name, w->prefetch, err);
    return w->consumer ? WR_OK : err->code;
}

/* After a lost connection: reconnect both, resume publisher and consumer. */
static void reconnect(struct worker *w)
{
    struct wr_error err;
    wr_log(WR_LOG_WARN, "runtime", "broker connection lost; reconnecting");
    while (!stop_requested(w)) {
        int64_t deadline = wr_monotonic_ms() + 1000;
        if (mq_conn_reconnect(w->publish_conn, deadline, &err) == WR_OK &&
            mq_publisher_resume(w->publisher, &err) == WR_OK &&
            mq_conn_reconnect(w->consume_conn, deadline + 1000, &err) == WR_OK &&
            mq_consumer_resume(w->consumer, &err) == WR_OK) {
            wr_log(WR_LOG_INFO, "runtime", "reconnected; consuming %s again", w->queue->name);
            sync_consumer(w); /* paused: stop again */
            return;
        }
    }
}

/* ---- the loop ------------------------------------------------------------------ */

/* Sends whatever committed steps left unpublished (a crash between commit
 * and publish whose message will not come back, e.g. after a replay). */
static void relay_outbox(struct worker *w)
{
    struct wr_error err;
    struct wrk_rows rows = {0};
    size_t count = 0, total = 0;
    do {
        wr_status status = wrk_store_pending(w->db, NULL, RELAY_BATCH, &rows, &count, &err);
        if (status == WR_OK)
            status = publish_rows(w, &rows, &err);
        wrk_rows_truncate(&rows, 0);
        if (status != WR_OK) {
            wr_log(WR_LOG_WARN, "runtime", "outbox relay: %s", err.message);
            break;
        }
        total += count;
    } while (count == RELAY_BATCH);
    wrk_rows_free(&rows);
    if (total)
        wr_log(WR_LOG_INFO, "runtime", "relayed %zu outbox messages left from before", total);
}

/* The publishing connection only reads while it waits for confirms; an
 * idle one must still read now and then, or its heartbeats stop and the
 * broker drops it. True while both connections are up. */
static bool links_alive(struct worker *w, int64_t *last_poll_ms)
{
    struct wr_error err;
    int64_t now = wr_monotonic_ms();
    if (now - *last_poll_ms >= 1000) {
        *last_poll_ms = now;
        if (mq_publisher_poll(w->publisher, 0, &err) != WR_OK)
            wr_log(WR_LOG_WARN, "runtime", "publishing connection: %s", err.message);
    }
    return mq_conn_is_open(w->publish_conn) && mq_conn_is_open(w->consume_conn);
}

/* How long to wait for a delivery: at most a second (signals, heartbeats),
 * less when an outage probe is due sooner. */
static int64_t next_wait_ms(const struct worker *w)
{
    int64_t wait = wrk_outage_wait_ms(&w->outage, wr_monotonic_ms());
    return wait < 0 || wait > 1000 ? 1000 : wait < 1 ? 1 : wait;
}

static void consume_loop(struct worker *w, struct batch *b)
{
    struct wr_error err;
    int64_t last_poll_ms = 0;
    while (!stop_requested(w)) {
        struct mq_delivery *d = NULL;
        if (wrk_outage_probe_due(&w->outage, wr_monotonic_ms())) {
            wr_log(WR_LOG_DEBUG, "runtime", "outage: taking one message as a probe");
            wrk_metrics_outage(w->metrics, &w->outage);
            sync_consumer(w);
        }
        wr_status status = mq_consumer_next(w->consumer, next_wait_ms(w), &d, &err);
        if (status == WR_OK) {
            handle_batch(w, b, d);
            sync_consumer(w);
        }
        if ((status != WR_OK && status != WR_ERR_TIMEOUT) || !links_alive(w, &last_poll_ms))
            reconnect(w);
    }
}

/* Handles deliveries already taken, in the order they came, in batches,
 * taking no other meanwhile (so a batch's one multiple ack covers exactly
 * these). */
static void handle_taken(struct worker *w, struct batch *b, struct mq_delivery **taken,
                         size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (w->outage.state == WRK_OUTAGE_PAUSED) {
            hand_back(w, taken[i]);
            continue;
        }
        b->settle[b->count] = handle_one(w, taken[i], b);
        b->deliveries[b->count++] = taken[i];
        if (b->count == BATCH_MAX || w->outage.state != WRK_OUTAGE_NONE)
            finish_batch(w, b);
    }
    if (b->count)
        finish_batch(w, b);
}

/* SIGTERM: no new deliveries; finish and ack those already received. */
static void drain(struct worker *w, struct batch *b)
{
    struct wr_error err;
    int64_t now = wr_monotonic_ms();
    int64_t deadline = now + cfg_int(w->opt->cfg, CFG_WORKER_SHUTDOWN_TIMEOUT);
    int64_t fill_until = now + DRAIN_FILL_MAX_MS < deadline ? now + DRAIN_FILL_MAX_MS : deadline;
    size_t drained = 0, held = 0, window = w->prefetch ? w->prefetch : 1;
    struct mq_delivery **early = calloc(window, sizeof *early);
    /* Fill the prefetch window before the cancel (or wait for a quiet
     * spell): with the window full the queue has nothing in flight to this
     * consumer, so nothing can reach the channel after the cancel, where
     * RabbitMQ would hand a quorum queue's late delivery back to the queue
     * as a redelivery. What is held this way is handled after the cancel;
     * a slow trickle that never fills the window stops filling after
     * DRAIN_FILL_MAX_MS, leaving the rest of the timeout to handling. */
    while (early && mq_consumer_is_consuming(w->consumer) && held < window &&
           wr_monotonic_ms() < fill_until &&
           mq_consumer_next(w->consumer, DRAIN_FILL_QUIET_MS, &early[held], &err) == WR_OK)
        held++;
    wr_status cancelled = mq_consumer_cancel(w->consumer, &err);
    handle_taken(w, b, early, held); /* even if the cancel failed: acks still go */
    free(early);
    drained = held;
    while (cancelled == WR_OK && wr_monotonic_ms() < deadline) {
        struct mq_delivery *d = NULL;
        /* anything the broker still sends before or with the cancel-ok */
        if (mq_consumer_next(w->consumer, DRAIN_QUIET_MS, &d, &err) != WR_OK)
            break;
        handle_batch(w, b, d);
        drained++;
    }
    wr_log(WR_LOG_INFO, "runtime", "drained %zu held messages", drained);
}

/* "Q.dead" of a topology queue Q: the same queue settings under the dead
 * queue's name, without retry tiers (consumed by the deadletter service). */
static const struct topo_queue *dead_queue_of(struct worker *w)
{
    const char *name = w->opt->queue;
    size_t len = strlen(name), suffix = strlen(".dead");
    if (len <= suffix || strcmp(name + len - suffix, ".dead") != 0)
        return NULL;
    char source[256];
    snprintf(source, sizeof source, "%.*s", (int)(len - suffix), name);
    const struct topo_queue *q = topo_model_find_queue(w->model, source);
    if (!q)
        return NULL;
    w->dead_queue = *q;
    w->dead_queue.name = (char *)name;
    w->dead_queue.retry_delay_count = 0;
    w->dead_queue.max_attempts = 1;
    return &w->dead_queue;
}

/* Tries `what` until it works or SIGTERM arrives: a broker or database
 * that is down at start is waited for, not a reason to exit. */
static bool keep_trying(struct worker *w, const char *what,
                        wr_status (*attempt)(struct worker *w, struct wr_error *err))
{
    struct wr_error err;
    int64_t pause = 500;
    while (attempt(w, &err) != WR_OK) {
        wr_log(WR_LOG_WARN, "runtime", "%s: %s; retrying in %lld ms", what, err.message,
               (long long)pause);
        for (int64_t waited = 0; waited < pause; waited += 100) {
            if (stop_requested(w))
                return false;
            sleep_ms(100);
        }
        pause = pause < 15000 ? pause * 2 : 30000;
    }
    return true;
}

static wr_status open_database(struct worker *w, struct wr_error *err)
{
    if (!w->db && !(w->db = db_open(w->opt->database_url, err)))
        return err->code;
    wr_status status = wrk_store_migrate(w->db, err);
    if (status == WR_OK)
        status = db_migrate(w->db, w->service->name, w->service->migrations,
                            w->service->migration_count, err);
    return status;
}

static wr_status open_broker(struct worker *w, struct wr_error *err)
{
    mq_consumer_destroy(w->consumer);
    mq_conn_close(w->consume_conn);
    mq_publisher_destroy(w->publisher);
    mq_conn_close(w->publish_conn);
    w->consumer = NULL;
    w->consume_conn = w->publish_conn = NULL;
    w->publisher = NULL;
    wr_status status = connect_broker(w, err);
    return status == WR_OK ? start_consuming(w, err) : status;
}

/* Outage mode's policy and the metrics (served when worker.metrics_port
 * is set; a port in use is logged, not fatal: the worker still works). */
static int setup_observability(struct worker *w)
{
    const struct cfg *cfg = w->opt->cfg;
    struct wrk_outage_policy policy = {
        .threshold = (int)cfg_int(cfg, CFG_WORKER_OUTAGE_THRESHOLD),
        .probe_min_ms = cfg_int(cfg, CFG_WORKER_OUTAGE_PROBE_MIN),
        .probe_max_ms = cfg_int(cfg, CFG_WORKER_OUTAGE_PROBE_MAX),
    };
    struct wr_error err;
    wrk_outage_init(&w->outage, &policy);
    if (!(w->metrics = wrk_metrics_create(w->service->name, w->queue->name))) {
        fprintf(stderr, "warren-worker: out of memory\n");
        return 1;
    }
    wrk_metrics_outage(w->metrics, &w->outage);
    int port = (int)cfg_int(cfg, CFG_WORKER_METRICS_PORT);
    const char *address = cfg_str(cfg, CFG_WORKER_METRICS_ADDRESS);
    wr_status status = port ? wrk_metrics_serve(w->metrics, address, port, &err) : WR_OK;
    if (status == WR_ERR_CONFIG) {
        fprintf(stderr, "warren-worker: %s\n", err.message);
        return 1;
    }
    if (status != WR_OK)
        wr_log(WR_LOG_WARN, "runtime", "metrics not served: %s", err.message);
    else if (port)
        wr_log(WR_LOG_INFO, "runtime", "metrics on http://%s:%d/metrics", address, port);
    return 0;
}

static int setup(struct worker *w)
{
    struct topo_diags diags = {0};
    struct wr_error err;
    wr_status loaded = topo_load_file(w->opt->topology_file, &w->model, &diags);
    if (loaded != WR_OK)
        topo_diags_print(&diags, stderr);
    topo_diags_free(&diags);
    if (loaded != WR_OK)
        return 1;
    w->queue = topo_model_find_queue(w->model, w->opt->queue);
    if (!w->queue)
        w->queue = dead_queue_of(w);
    if (!w->queue) {
        fprintf(stderr, "warren-worker: queue %s is not in %s\n", w->opt->queue,
                w->opt->topology_file);
        return 1;
    }
    if (setup_observability(w) != 0)
        return 1;
    if (!keep_trying(w, "database", open_database))
        return 0; /* SIGTERM while waiting: a clean exit */
    struct wrk_env env = {.cfg = w->opt->cfg, .db = w->db};
    if (w->service->init && w->service->init(&env, &w->state, &err) != WR_OK) {
        fprintf(stderr, "warren-worker: %s: %s\n", w->service->name, err.message);
        return 1;
    }
    (void)keep_trying(w, "broker", open_broker); /* false: SIGTERM while waiting */
    return 0;
}

static void teardown(struct worker *w)
{
    mq_consumer_destroy(w->consumer);
    mq_conn_close(w->consume_conn);
    mq_publisher_destroy(w->publisher);
    mq_conn_close(w->publish_conn);
    if (w->service->fini && w->state)
        w->service->fini(w->state);
    db_close(w->db);
    wrk_metrics_destroy(w->metrics);
    topo_model_free(w->model);
}

int wrk_run(const struct wrk_options *options)
{
    struct worker w = {.opt = options, .service = options->service};
    sigemptyset(&w.signals);
    sigaddset(&w.signals, SIGTERM);
    sigaddset(&w.signals, SIGINT);
    int rc = setup(&w);
    if (rc == 0 && !w.stopping) {
        wr_log(WR_LOG_INFO, "runtime", "%s worker consuming %s (prefetch %d)",
               w.service->name, w.queue->name, w.queue->prefetch);
        struct batch batch = {.duplicates = json_array()};
        relay_outbox(&w);
        consume_loop(&w, &batch);
        drain(&w, &batch);
        json_decref(batch.duplicates);
        wrk_rows_free(&batch.rows);
        wr_log(WR_LOG_INFO, "runtime", "%s worker stopped", w.service->name);
    }
    teardown(&w);
    return rc;
}
