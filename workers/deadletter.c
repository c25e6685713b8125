/* The deadletter service: every message of a dead-letter queue ("Q.dead")
 * becomes one record of its dead_letters table with the headers the
 * runtime's move_failed() wrote (attempts, errors, times, origin). It emits
 * nothing. A redelivered dead letter is stored once: the record's key is
 * (dead queue, message id, dead-at), so the insert does nothing twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/internal.h"
#include "workers/services.h"

static const struct db_migration deadletter_migrations[] = {
    {1, "CREATE TABLE dead_letters ("
        " id bigserial PRIMARY KEY,"
        " queue text NOT NULL,"
        " dead_queue text NOT NULL,"
        " original_exchange text,"
        " original_routing_key text,"
        " message_id text NOT NULL,"
        " type text,"
        " correlation_id text,"
        " headers jsonb NOT NULL,"
        " body text NOT NULL,"
        " attempts integer NOT NULL,"
        " first_error text,"
        " last_error text,"
        " first_failed_at timestamptz,"
        " dead_at timestamptz NOT NULL,"
        " stored_at timestamptz NOT NULL DEFAULT now(),"
        " status text NOT NULL DEFAULT 'dead'"
        "  CHECK (status IN ('dead', 'replayed', 'discarded')),"
        " replayed_at timestamptz,"
        " replayed_by text,"
        " discarded_at timestamptz,"
        " discarded_by text,"
        " discard_reason text,"
        " previous_id bigint REFERENCES dead_letters (id),"
        " UNIQUE (dead_queue, message_id, dead_at));"
        "CREATE INDEX dead_letters_by_status ON dead_letters (status, dead_at DESC);"
        "CREATE INDEX dead_letters_by_queue ON dead_letters (queue, dead_at DESC);"},
};

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

static const char insert_sql[] =
    "INSERT INTO dead_letters (queue, dead_queue, original_exchange, original_routing_key,"
    " message_id, type, correlation_id, headers, body, attempts, first_error, last_error,"
    " first_failed_at, dead_at, previous_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::integer, $11, $12,"
    " $13::timestamptz,"
    " coalesce($14::timestamptz, to_timestamp(nullif($15::bigint, 0)), now()),"
    " (SELECT max(id) FROM dead_letters WHERE dead_queue = $2 AND message_id = $5))"
    " ON CONFLICT (dead_queue, message_id, dead_at) DO NOTHING";

static enum wrk_outcome deadletter_handle(void *state, const struct wrk_message *msg,
                                          struct wrk_step *step, struct wr_error *why)
{
    const struct mq_delivery *d = step->in->delivery;
    char queue[300], attempts[16], sent_at[24];
    struct wr_error err;
    enum wrk_outcome outcome = WRK_RETRY;
    (void)state;
    json_t *headers = headers_json(d);
    char *headers_text = headers ? json_dumps(headers, JSON_COMPACT) : NULL;
    if (!headers_text) {
        wr_error_set(why, WR_ERR_NOMEM, "deadletter: out of memory");
        goto out;
    }
    queue_names(d, queue, sizeof queue);
    snprintf(attempts, sizeof attempts, "%d", msg->attempt);
    snprintf(sent_at, sizeof sent_at, "%lld", (long long)msg->timestamp);
    const char *params[] = {
        queue,
        d->routing_key ? d->routing_key : "",
        header_text(d, "x-original-exchange"),
        header_text(d, "x-original-routing-key"),
        d->message_id ? d->message_id : "unknown",
        type_of(d, msg),
        d->correlation_id,
        headers_text,
        (const char *)d->body,
        attempts,
        header_text(d, "x-first-error"),
        header_text(d, "x-last-error"),
        header_time(d, "x-first-failed-at"),
        header_time(d, "x-dead-at"),
        sent_at,
    };
    if (db_exec(wrk_step_db(step), insert_sql, 15, params, NULL, &err) == WR_OK)
        outcome = WRK_DONE;
    else
        outcome = wrk_db_failed(why, "deadletter", &err);
out:
    free(headers_text);
    json_decref(headers);
    return outcome;
}

const struct wrk_service wrk_deadletter_service = {
    .name = "deadletter",
    .migrations = deadletter_migrations,
    .migration_count = sizeof deadletter_migrations / sizeof deadletter_migrations[0],
    .handle = deadletter_handle,
    .raw = true,
};
