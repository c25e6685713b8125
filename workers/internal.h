/* Private declarations of workers/: the runtime's inbox/outbox store and
 * message decoding, shared by runtime.c and the files it is split into. */
#ifndef WARREN_WORKERS_INTERNAL_H
#define WARREN_WORKERS_INTERNAL_H

#include "broker/broker.h"
#include "workers/runtime.h"

/* A decoded delivery: the handler's view plus what the runtime needs. */
struct wrk_incoming {
    struct wrk_message msg;
    const struct mq_delivery *delivery;
    char dedupe_key[400];
    char why_undecodable[200]; /* set when the delivery cannot be a message */
};

/* Decodes delivery into in (borrowing its strings; in->msg.body is a new
 * reference released by wrk_incoming_clear). WR_ERR_INVALID, with
 * why_undecodable set, when the body is not a JSON object or the type or
 * order id is missing: such a message is dead-lettered at once. With raw
 * (a service of dead letters) every delivery decodes. */
wr_status wrk_incoming_decode(const struct mq_delivery *delivery, bool raw,
                              struct wrk_incoming *in);
void wrk_incoming_clear(struct wrk_incoming *in);

/* One outbox row waiting to be published. */
struct wrk_outbound {
    long long id;
    char *message_id;
    char *type;
    char *order_id;
    char *storefront;  /* or NULL */
    char *traceparent; /* or NULL */
    char *body;
};

/* A growing list of outbox rows (zero-initialised when empty). */
struct wrk_rows {
    struct wrk_outbound *rows;
    size_t count;
    size_t cap;
};

/* Drops the rows from index keep on (keep 0: all), keeping the storage. */
void wrk_rows_truncate(struct wrk_rows *rows, size_t keep);
/* Frees the rows and the storage. */
void wrk_rows_free(struct wrk_rows *rows);

/* The transaction a handler works in (struct wrk_step is opaque to services). */
struct wrk_step {
    struct db_conn *db;
    const struct wrk_incoming *in;
    const char *downstream;   /* set by wrk_step_downstream_failed, else NULL */
    struct wrk_rows *emitted; /* wrk_step_emit appends the step's messages here */
};

/* Schema of the runtime's tables (component "runtime"). */
wr_status wrk_store_migrate(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;

/* Inside an open transaction: records the message's dedupe key. *fresh is
 * false when the key was seen before (a redelivery, replay or duplicate). */
wr_status wrk_store_claim(struct db_conn *db, const struct wrk_incoming *in, bool *fresh,
                          struct wr_error *err) WR_MUST_CHECK;

/* Writes rows[from..] (what wrk_step_emit kept of the step's messages,
 * without id and message id yet) to the outbox and commits the step's
 * transaction, in one round trip (db_exec_commit), then fills in the rows'
 * ids and message ids. With no such row it only commits. On failure
 * nothing is committed: the caller rolls back and drops the rows. */
wr_status wrk_store_commit(struct db_conn *db, const struct wrk_incoming *in, struct wrk_rows *rows,
                           size_t from, struct wr_error *err) WR_MUST_CHECK;

/* Appends to rows the unpublished outbox rows written for the dedupe keys
 * in dedupe_keys, a JSON array of strings (NULL = every unpublished row),
 * oldest first, at most limit, leaving out ids rows holds already. *added
 * says how many were appended. */
wr_status wrk_store_pending(struct db_conn *db, const char *dedupe_keys, size_t limit,
                            struct wrk_rows *rows, size_t *added,
                            struct wr_error *err) WR_MUST_CHECK;

/* Deletes rows from the outbox once the broker confirmed them. */
wr_status wrk_store_delete_published(struct db_conn *db, const struct wrk_rows *rows,
                                   struct wr_error *err) WR_MUST_CHECK;

/* Fault injection for the crash tests: when the environment variable
 * WARREN_CRASH_AT names this point ("order:after_commit"; the service
 * name, a colon, the point), the process kills itself with SIGKILL right
 * here, as a power cut would. Points are listed in docs/EXACTLY-ONCE.md. */
void wrk_crash_point(const char *service, const char *point);

#endif
