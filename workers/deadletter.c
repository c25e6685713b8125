/* The deadletter service: every message of a dead-letter queue ("Q.dead")
 * becomes one record of its dead_letters table with the headers the
 * runtime's move_failed() wrote (attempts, errors, times, origin). It emits
 * nothing. A redelivered dead letter is stored once: the record's key is
 * (dead queue, message id, dead-at), so the insert does nothing twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "dlq/dlq.h"
#include "workers/internal.h"
#include "workers/services.h"

#define DEAD_SUFFIX ".dead"

static const char *header_text(const struct mq_delivery *d, const char *key)
{
    const struct mq_header *h = mq_delivery_header(d, key);
    return h && h->kind == MQ_HEADER_STRING ? h->string : NULL;
}

/* A header only if it is an RFC 3339 time ("2026-11-25T08:57:56..."), so
 * that a malformed one cannot make the insert fail forever. */
static const char *header_time(const struct mq_delivery *d, const char *key)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    const char *text = header_text(d, key);
    for (size_t i = 0; text && i < sizeof shape - 1; i++) {
        bool digit = text[i] >= '0' && text[i] <= '9';
        if (shape[i] == 'd' ? !digit : text[i] != shape[i])
            return NULL;
    }
    return text;
}

/* Every header as one JSON object (owned by the caller). */
static json_t *headers_json(const struct mq_delivery *d)
{
    json_t *out = json_object();
    for (size_t i = 0; out && i < d->header_count; i++) {
        const struct mq_header *h = &d->headers[i];
        json_object_set_new(out, h->key,
                            h->kind == MQ_HEADER_INT ? json_integer((json_int_t)h->integer)
                                                     : json_string(h->string ? h->string : ""));
    }
    return out;
}

/* The message's type property; without one, the key it was first sent
 * with (the runtime falls back to the dead queue's routing key). */
static const char *type_of(const struct mq_delivery *d, const struct wrk_message *msg)
{
    const char *original = header_text(d, "x-original-routing-key");
    return d->type && *d->type ? d->type : original && *original ? original : msg->type;
}

/* The dead queue is the routing key the runtime published it with
 * ("Q.dead"); its source queue is that name without ".dead". */
static void queue_names(const struct mq_delivery *d, char *queue, size_t size)
{
    const char *dead = d->routing_key ? d->routing_key : "";
    size_t len = strlen(dead), suffix = strlen(DEAD_SUFFIX);
    if (len > suffix && strcmp(dead + len - suffix, DEAD_SUFFIX) == 0)
        len -= suffix;
    snprintf(queue, size, "%.*s", (int)len, dead);
}

/* Retention: replayed and discarded records older than
 * deadletter.retention_days go, at start and then at most once an hour
 * while dead letters arrive (`warrenctl dlq purge` does it on demand). */
struct deadletter_state {
    int retention_days;
    int64_t last_purge_ms;
};

static void purge_old(struct deadletter_state *s, struct db_conn *db)
{
    struct wr_error err;
    long long purged = 0;
    s->last_purge_ms = wr_monotonic_ms();
    if (dlq_purge(db, s->retention_days, &purged, &err) != WR_OK)
        wr_log(WR_LOG_WARN, "deadletter", "retention purge failed: %s", err.message);
    else if (purged)
        wr_log(WR_LOG_INFO, "deadletter",
               "retention: purged %lld replayed or discarded records older than %d days", purged,
               s->retention_days);
}

static wr_status deadletter_init(const struct wrk_env *env, void **state, struct wr_error *err)
{
    struct deadletter_state *s = calloc(1, sizeof *s);
    if (!s)
        return wr_error_set(err, WR_ERR_NOMEM, "deadletter: out of memory");
    s->retention_days = (int)cfg_int(env->cfg, CFG_DEADLETTER_RETENTION_DAYS);
    purge_old(s, env->db);
    *state = s;
    return WR_OK;
}

static enum wrk_outcome deadletter_handle(void *state, const struct wrk_message *msg,
                                          struct wrk_step *step, struct wr_error *why)
{
    struct deadletter_state *s = state;
    const struct mq_delivery *d = step->in->delivery;
    char queue[300];
    struct wr_error err;
    enum wrk_outcome outcome = WRK_RETRY;
    json_t *headers = headers_json(d);
    char *headers_text = headers ? json_dumps(headers, JSON_COMPACT) : NULL;
    if (!headers_text) {
        wr_error_set(why, WR_ERR_NOMEM, "deadletter: out of memory");
        goto out;
    }
    queue_names(d, queue, sizeof queue);
    struct dlq_dead_letter letter = {
        .queue = queue,
        .dead_queue = d->routing_key ? d->routing_key : "",
        .exchange = header_text(d, "x-original-exchange"),
        .routing_key = header_text(d, "x-original-routing-key"),
        .message_id = d->message_id ? d->message_id : "unknown",
        .type = type_of(d, msg),
        .correlation_id = d->correlation_id,
        .headers_json = headers_text,
        .body = d->body,
        .body_len = d->body_len,
        .attempts = msg->attempt,
        .first_error = header_text(d, "x-first-error"),
        .last_error = header_text(d, "x-last-error"),
        .first_failed_at = header_time(d, "x-first-failed-at"),
        .dead_at = header_time(d, "x-dead-at"),
        .sent_at = msg->timestamp,
    };
    if (dlq_store(wrk_step_db(step), &letter, &err) == WR_OK)
        outcome = WRK_DONE;
    else
        outcome = wrk_db_failed(why, "deadletter", &err);
    if (wr_monotonic_ms() - s->last_purge_ms > 3600 * 1000)
        purge_old(s, wrk_step_db(step));
out:
    free(headers_text);
    json_decref(headers);
    return outcome;
}

static void deadletter_fini(void *state)
{
    free(state);
}

const struct wrk_service wrk_deadletter_service = {
    .name = "deadletter",
    .migrations = dlq_migrations,
    .migration_count = DLQ_MIGRATION_COUNT,
    .init = deadletter_init,
    .handle = deadletter_handle,
    .fini = deadletter_fini,
    .raw = true,
};
