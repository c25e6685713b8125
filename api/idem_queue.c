/* The database thread behind api_idem_queue_submit(): claims, lookups,
 * answers and releases of Idempotency-Keys, batched.
 *
 * Why one thread: a keyed POST used to hold an HTTP thread for each of its
 * two statements, so 64 keyed requests needed 64 blocked threads, and the
 * machine spent its time switching between them. Here requests queue jobs
 * and stay suspended; the thread takes everything queued, sends it as one
 * pipeline ending in one Sync (one round trip, one transaction, one commit
 * for the whole batch), sleeps in poll() on the connection's socket until
 * the answers are in, and completes each job. While it works, new jobs
 * queue up for the next batch, so the batches grow with the load by
 * themselves. With nothing to do it sleeps in poll() on the handoff's
 * eventfd (core/handoff.h: written by api_idem_queue_submit only while the
 * thread sleeps) and on the idle connection's socket (to notice the server
 * closing it).
 *
 * One transaction per batch means one failed statement rolls back the
 * others: they come back as WR_ERR_RETRY and go into the next batch, as
 * does a batch that failed for any other reason. A claim that does not own its key
 * is followed by its lookup in the next batch. */
#include "api/idem_queue.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/handoff.h"
#include "core/log.h"

/* How long a batch may wait for its answers before its jobs fail (as the
 * broker's confirm timeout: a request never waits for ever). */
#define BATCH_TIMEOUT_MS 5000
/* After failing to connect, batches fail at once for this long. */
#define RECONNECT_PAUSE_MS 500
/* Sends of one job at most: rollbacks with a batch, claim and lookup. */
#define MAX_SENDS (2 * API_IDEM_CLAIM_ATTEMPTS)

struct job_list {
    struct api_idem_job *head, *tail;
};

struct api_idem_queue {
    struct wr_handoff jobs; /* and the database thread */
    /* owned by the thread */
    struct db_pipe *pipe;
    int64_t next_connect_ms;
};

static void list_push(struct job_list *list, struct api_idem_job *job)
{
    job->next = NULL;
    if (list->tail)
        list->tail->next = job;
    else
        list->head = job;
    list->tail = job;
}

static struct api_idem_job *list_pop(struct job_list *list)
{
    struct api_idem_job *job = list->head;
    if (job && !(list->head = job->next))
        list->tail = NULL;
    return job;
}

static void finish(struct api_idem_job *job, wr_status status, const struct wr_error *detail)
{
    struct wr_error fallback;
    if (!detail) {
        wr_error_set(&fallback, status, "%s", wr_status_str(status));
        detail = &fallback;
    }
    job->done(job, status, detail); /* the job may be gone after this */
}

/* Puts job into the next batch, unless it has been sent too often. */
static void again(struct job_list *work, struct api_idem_job *job, const struct wr_error *why)
{
    if (++job->attempts < MAX_SENDS) {
        list_push(work, job);
        return;
    }
    struct wr_error err;
    wr_error_set(&err, WR_ERR_RETRY, "idempotency key kept changing: %s", why->message);
    finish(job, WR_ERR_RETRY, &err);
}

static void prepare(struct api_idem_job *job)
{
    struct api_idem_statement *s = &job->statement;
    switch (job->op) {
    case API_IDEM_OP_CLAIM:
        if (job->looking_up)
            api_idem_lookup_statement(s, job->storefront, job->key);
        else
            api_idem_claim_statement(s, job->storefront, job->key, job->request_hash,
                                     job->proposed_order_id, job->lease_seconds);
        break;
    case API_IDEM_OP_COMPLETE:
        api_idem_complete_statement(s, job->storefront, job->key, job->response_status,
                                    job->response_body);
        break;
    case API_IDEM_OP_RELEASE:
        api_idem_release_statement(s, job->storefront, job->key);
        break;
    }
}

/* What a claim's or lookup's rows mean for its job. */
static void claim_answered(struct job_list *work, struct api_idem_job *job,
                           const struct db_result *rows)
{
    struct wr_error err;
    if (!job->looking_up) {
        if (api_idem_claim_read(rows, &job->result)) {
            finish(job, WR_OK, NULL);
        } else {
            job->looking_up = true; /* someone else's key: what does it hold? */
            wr_error_set(&err, WR_ERR_RETRY, "claimed elsewhere");
            again(work, job, &err);
        }
        return;
    }
    wr_status status = api_idem_lookup_read(rows, job->request_hash, &job->result, &err);
    if (status == WR_ERR_RETRY) {
        job->looking_up = false; /* purged since the claim: claim it anew */
        again(work, job, &err);
    } else {
        finish(job, status, status == WR_OK ? NULL : &err);
    }
}

static void answered(struct job_list *work, struct api_idem_job *job, wr_status status,
                     const struct db_result *rows, const struct wr_error *err)
{
    if (status == WR_ERR_RETRY)
        again(work, job, err); /* rolled back with its batch, or a deadlock victim */
    else if (status != WR_OK)
        finish(job, status, err);
    else if (job->op == API_IDEM_OP_CLAIM)
        claim_answered(work, job, rows);
    else
        finish(job, WR_OK, NULL);
}

/* Sends the batch and sleeps in poll() until every answer is in or the
 * batch timed out. WR_OK: read each statement's outcome with
 * db_pipe_result. */
static wr_status send_and_wait(struct api_idem_queue *queue,
                               const struct db_pipe_statement *statements, size_t count,
                               struct wr_error *err)
{
    bool connected = db_pipe_connected(queue->pipe);
    int64_t now = wr_monotonic_ms();
    if (!connected && now < queue->next_connect_ms)
        return wr_error_set(err, WR_ERR_CONNECTION, "the idempotency store is unreachable");
    wr_status status = db_pipe_send(queue->pipe, statements, count, err);
    if (status != WR_OK) {
        if (!connected)
            queue->next_connect_ms = now + RECONNECT_PAUSE_MS;
        return status;
    }
    int64_t deadline = now + BATCH_TIMEOUT_MS;
    for (bool complete = false; !complete;) {
        int64_t left = deadline - wr_monotonic_ms();
        if (left <= 0) {
            db_pipe_abandon(queue->pipe, "no answer from the idempotency store within 5 s");
            return WR_OK; /* every statement now reports the timeout */
        }
        struct pollfd fd = {.fd = db_pipe_socket(queue->pipe), .events = POLLIN};
        if (poll(&fd, 1, (int)left) < 0 && errno != EINTR)
            wr_log(WR_LOG_WARN, "idempotency", "poll: %s", strerror(errno));
        status = db_pipe_read(queue->pipe, &complete, err);
    }
    return WR_OK; /* a lost connection too is reported per statement */
}

static int by_key(const void *a, const void *b)
{
    const struct api_idem_job *x = *(struct api_idem_job *const *)a;
    const struct api_idem_job *y = *(struct api_idem_job *const *)b;
    int order = strcmp(x->storefront, y->storefront);
    return order ? order : strcmp(x->key, y->key);
}

/* Sends up to DB_PIPE_MAX_BATCH jobs of work as one batch and completes
 * them (or puts them back into work for the next batch). A batch is one
 * transaction, so its rows are locked in key order: two API processes
 * whose batches share keys then wait for each other instead of
 * deadlocking (which PostgreSQL would break only after a second). */
static void run_batch(struct api_idem_queue *queue, struct job_list *work)
{
    struct api_idem_job *batch[DB_PIPE_MAX_BATCH];
    struct db_pipe_statement statements[DB_PIPE_MAX_BATCH];
    size_t count = 0;
    struct api_idem_job *job;
    while (count < DB_PIPE_MAX_BATCH && (job = list_pop(work)))
        batch[count++] = job;
    qsort(batch, count, sizeof batch[0], by_key);
    for (size_t i = 0; i < count; i++) {
        prepare(batch[i]);
        statements[i] = batch[i]->statement.st;
    }
    struct wr_error err;
    wr_status sent = send_and_wait(queue, statements, count, &err);
    for (size_t i = 0; i < count; i++) {
        struct db_result *rows = NULL;
        wr_status status = sent != WR_OK ? sent : db_pipe_result(queue->pipe, i, &rows, &err);
        answered(work, batch[i], status, rows, &err); /* each request logs a failure */
        db_result_free(rows);
    }
}

/* Moves what was queued onto work. */
static void take_jobs(struct api_idem_queue *queue, struct job_list *work, bool *stopping)
{
    struct api_idem_job *next;
    for (struct api_idem_job *job = wr_handoff_take(&queue->jobs, stopping); job; job = next) {
        next = job->next;
        list_push(work, job);
    }
}

/* Sleeps until a job is queued or the idle connection has news (the
 * server closing it: dropped, so the next batch reconnects instead of
 * failing). Returns at once if work is queued. */
static void wait_for_work(struct api_idem_queue *queue)
{
    if (wr_handoff_wait(&queue->jobs, db_pipe_socket(queue->pipe), -1))
        db_pipe_idle_check(queue->pipe);
}

static void *queue_thread(void *arg)
{
    struct api_idem_queue *queue = arg;
    struct job_list work = {0};
    bool stopping = false;
    for (;;) {
        take_jobs(queue, &work, &stopping);
        if (work.head)
            run_batch(queue, &work);
        else if (stopping)
            break;
        else
            wait_for_work(queue);
    }
    return NULL;
}

struct api_idem_queue *api_idem_queue_start(const char *database_url, struct wr_error *err)
{
    struct api_idem_queue *queue = calloc(1, sizeof *queue);
    if (queue && (queue->pipe = db_pipe_create(database_url)) &&
        wr_handoff_start(&queue->jobs, offsetof(struct api_idem_job, next), queue_thread, queue,
                         err) == WR_OK)
        return queue;
    if (queue)
        db_pipe_close(queue->pipe);
    free(queue);
    wr_error_set(err, WR_ERR_NOMEM, "cannot start the idempotency store's thread");
    return NULL;
}

void api_idem_queue_stop(struct api_idem_queue *queue)
{
    if (!queue)
        return;
    wr_handoff_finish(&queue->jobs);
    db_pipe_close(queue->pipe);
    free(queue);
}

void api_idem_queue_submit(struct api_idem_queue *queue, struct api_idem_job *job)
{
    memset(&job->result, 0, sizeof job->result);
    job->looking_up = false;
    job->attempts = 0;
    if (!wr_handoff_push(&queue->jobs, job)) {
        struct wr_error err;
        wr_error_set(&err, WR_ERR_CONNECTION, "the API is shutting down");
        finish(job, WR_ERR_CONNECTION, &err);
    }
}
