/* The Idempotency-Key store's database thread: it owns one PostgreSQL
 * connection and sends the claims, answers and releases queued by many
 * requests together, in one pipelined round trip and one transaction per
 * batch, so no HTTP thread ever waits for the database. Requests stay
 * suspended meanwhile, as they do for the broker's confirm (api/intake.h). */
#ifndef WARREN_API_IDEM_QUEUE_H
#define WARREN_API_IDEM_QUEUE_H

#include "api/idempotency.h"
#include "core/status.h"

struct api_idem_queue;

enum api_idem_op {
    API_IDEM_OP_CLAIM,    /* api_idem_claim: fills result */
    API_IDEM_OP_COMPLETE, /* api_idem_complete */
    API_IDEM_OP_RELEASE,  /* api_idem_release */
};

/* One operation on a key. The caller fills the public fields and owns the
 * job and its strings until done() has been called, exactly once, from the
 * database thread (or from api_idem_queue_submit itself when the queue is
 * stopping). status is WR_OK or the store's error (WR_ERR_CONNECTION when
 * it cannot be reached, WR_ERR_TIMEOUT when it did not answer in time);
 * for a claim, result is then filled as by api_idem_claim (its
 * response_body is the caller's to free). done() must not block; it may
 * submit the job again with another op. */
struct api_idem_job {
    enum api_idem_op op;
    const char *storefront;
    const char *key;
    const char *request_hash;      /* claim */
    const char *proposed_order_id; /* claim */
    int lease_seconds;             /* claim */
    int response_status;           /* complete */
    const char *response_body;     /* complete */
    void (*done)(struct api_idem_job *job, wr_status status, const struct wr_error *detail);
    struct api_idem_result result; /* claim, on WR_OK */
    /* private to idem_queue.c */
    struct api_idem_job *next;
    struct api_idem_statement statement;
    bool looking_up; /* the claim did not own the key: its lookup is next */
    int attempts;
};

/* Starts the thread for the store at database_url. It connects when the
 * first job comes (and again after losing the connection), so this
 * succeeds while the database is down. NULL with err set only when out of
 * resources. Stop with api_idem_queue_stop(). */
struct api_idem_queue *api_idem_queue_start(const char *database_url, struct wr_error *err);

/* Finishes what is queued, waits for the thread and frees everything. */
void api_idem_queue_stop(struct api_idem_queue *queue);

/* Queues job for the next batch. Safe from any thread; never blocks on
 * the database. */
void api_idem_queue_submit(struct api_idem_queue *queue, struct api_idem_job *job);

#endif
