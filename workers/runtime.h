/* workers/: the one worker runtime every warren service runs on.
 *
 * The runtime owns everything but the business step: consuming with
 * manual ack and prefetch, one database transaction per message with an
 * inbox row for duplicate detection and an outbox for the messages to
 * send next, publishing those with confirms, acking only after the effect
 * is committed and its next messages are confirmed, retry tiers and the
 * dead-letter queue, reconnects and SIGTERM. A service is a table of
 * functions (struct wrk_service) whose handle() reads one message, works
 * in its own database inside the transaction it is given, and says what to
 * publish next with wrk_step_emit(). docs/EXACTLY-ONCE.md explains why
 * this gives exactly-once effects on at-least-once delivery. */
#ifndef WARREN_WORKERS_RUNTIME_H
#define WARREN_WORKERS_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/db.h"
#include "core/status.h"

/* What a handler made of a message. */
enum wrk_outcome {
    WRK_DONE,       /* the effect is done (or was not needed): commit, publish, ack */
    WRK_RETRY,      /* a transient failure: roll back, wait in a retry tier, try again */
    WRK_DOWNSTREAM, /* a transient failure of a downstream (gateway, SMTP server): like
                     * WRK_RETRY, and counted for outage mode; return it through
                     * wrk_step_downstream_failed() so the downstream is named */
    WRK_PERMANENT,  /* can never succeed (bad message, config error): dead-letter now */
};

/* One incoming message as a handler sees it. Borrowed for the call. */
struct wrk_message {
    const char *type;        /* "order.placed", ... (also its routing key) */
    const char *order_id;    /* correlation_id */
    const char *message_id;
    const char *storefront;  /* x-storefront header, or NULL */
    const char *traceparent; /* or NULL */
    int attempt;             /* x-attempt: 1 on the first delivery */
    int64_t timestamp;       /* AMQP timestamp (seconds since the epoch), 0 if absent */
    json_t *body;            /* parsed JSON object (never NULL) */
};

/* The transaction a handler works in. */
struct wrk_step;

/* The service's database connection, inside the message's transaction. */
struct db_conn *wrk_step_db(struct wrk_step *step);

/* Queues a message for after the commit: published to broker.exchange ("orders")
 * with routing key and type `type`, the same order id, traceparent and
 * storefront, x-attempt 1. body is serialised now (the caller keeps its
 * reference). Written to the outbox with this transaction's commit (in the
 * same round trip), so it is sent if and only if the transaction commits.
 * Fails only when out of memory (WR_ERR_NOMEM). */
wr_status wrk_step_emit(struct wrk_step *step, const char *type, json_t *body) WR_MUST_CHECK;

/* For handle() to return when the step failed because a downstream the
 * service calls (name: a string that lives as long as the process, e.g.
 * "payment gateway") timed out, was unreachable or answered a transient
 * error. The message is retried like WRK_RETRY; after
 * worker.outage_threshold such failures in a row the runtime enters outage
 * mode (docs/EXACTLY-ONCE.md). Returns WRK_DOWNSTREAM. */
enum wrk_outcome wrk_step_downstream_failed(struct wrk_step *step, const char *name);

/* Everything a service's init may need. */
struct wrk_env {
    const struct cfg *cfg;
    struct db_conn *db; /* for init-time work only; handle() gets its own */
};

struct wrk_service {
    const char *name; /* "order", ... (topology's `service`) */
    const struct db_migration *migrations;
    size_t migration_count;
    /* Optional: builds the service's state (clients, caches). */
    wr_status (*init)(const struct wrk_env *env, void **state, struct wr_error *err);
    /* The business step. why explains a WRK_RETRY / WRK_PERMANENT. */
    enum wrk_outcome (*handle)(void *state, const struct wrk_message *msg,
                               struct wrk_step *step, struct wr_error *why);
    /* Optional: frees the state. */
    void (*fini)(void *state);
    /* A service of dead letters (deadletter): it takes any message (not
     * only JSON with a type and an order id), keeps its own duplicate
     * detection instead of the inbox, and what it fails on is requeued,
     * never moved to a retry tier or a dead-letter queue of its own. */
    bool raw;
};

/* The table of every service (workers/services.c). NULL if unknown. */
const struct wrk_service *wrk_service_find(const char *name);

struct wrk_options {
    const struct cfg *cfg;
    const struct wrk_service *service;
    const char *queue;       /* the queue to consume: a topology queue, or "Q.dead" of one */
    const char *topology_file;
    const char *database_url;
};

/* Runs the worker until SIGTERM/SIGINT (blocked by the caller and waited
 * for here) and returns 0, or prints one clear line and returns 1 when it
 * cannot start (bad topology, queue not in it, database unreachable). */
int wrk_run(const struct wrk_options *options);

#endif
