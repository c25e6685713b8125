/* The publisher thread behind api_intake_submit() and api_intake_publish().
 *
 * Why one thread: a rabbitmq-c connection is not thread-safe, and the
 * broker pipelines confirms best over a single channel with many publishes
 * outstanding. Request threads queue jobs (a message and a place for the
 * outcome); the thread sends everything queued, reads every confirm that
 * has arrived, and completes each job from the confirm callback. Then it
 * sleeps in poll() until the broker's socket or the handoff's eventfd
 * (written by api_intake_submit while the thread sleeps) is readable
 * (core/handoff.h). So a burst of
 * requests becomes one burst of publishes and one burst of acks, whatever
 * the number of request threads, and the thread uses no CPU between them
 * (it used to read with a 1 ms timeout, which rabbitmq-c rounds down to a
 * 0 ms poll: a busy loop that took half a core under load). */
#include "api/intake.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/handoff.h"
#include "core/log.h"

/* How long a new batch waits for earlier publishes' confirms at most. */
#define GATHER_MS 1

struct api_intake {
    struct api_intake_options options;
    struct wr_handoff jobs; /* and the publisher thread */
    atomic_bool connected; /* written by the thread, read by /readyz */
    /* owned by the thread */
    struct mq_conn *conn;
    struct mq_publisher *pub;
    int64_t next_connect_ms;
};

static void finish_job(struct api_intake_job *job, wr_status result,
                       const struct wr_error *detail)
{
    struct wr_error fallback;
    if (!detail) {
        wr_error_set(&fallback, result, "%s", wr_status_str(result));
        detail = &fallback;
    }
    job->done(job, result, detail);
}

static void on_confirm(void *publish_ctx, wr_status result, const struct wr_error *detail,
                       void *user)
{
    (void)user;
    finish_job(publish_ctx, result, detail);
}

static void set_connected(struct api_intake *intake, bool connected)
{
    if (atomic_exchange(&intake->connected, connected) != connected)
        wr_log(connected ? WR_LOG_INFO : WR_LOG_WARN, "intake",
               connected ? "connected to the broker" : "lost the broker; answering 503 until back");
}

static void close_connection(struct api_intake *intake)
{
    mq_publisher_destroy(intake->pub); /* fails outstanding jobs with WR_ERR_CONNECTION */
    intake->pub = NULL;
    mq_conn_close(intake->conn);
    intake->conn = NULL;
}

/* The connection failed: close it and say so (503 until it is back). */
static void drop_connection(struct api_intake *intake)
{
    close_connection(intake);
    set_connected(intake, false);
}

/* Opens connection and publisher unless up; at most one try per 500 ms. */
static bool ensure_connected(struct api_intake *intake)
{
    struct wr_error err;
    if (intake->pub)
        return true;
    int64_t now = mq_now_ms();
    if (now < intake->next_connect_ms)
        return false;
    intake->next_connect_ms = now + 500;
    intake->conn = mq_conn_open(&intake->options.conn, &err);
    if (intake->conn) {
        struct mq_publisher_options pub_options = {
            .max_in_flight = intake->options.max_in_flight,
            .confirm_timeout_ms = intake->options.confirm_timeout_ms,
            .on_confirm = on_confirm,
            .user = intake,
            .batch_writes = true, /* publish_jobs' burst, then mq_publisher_poll */
        };
        intake->pub = mq_publisher_create(intake->conn, &pub_options, &err);
    }
    if (!intake->pub) {
        wr_log(WR_LOG_DEBUG, "intake", "connect failed: %s", err.message);
        close_connection(intake);
        return false;
    }
    set_connected(intake, true);
    return true;
}

/* Sleeps until there is something to do. With publishes in flight it
 * waits for their confirms (the broker's socket) or GATHER_MS, whichever
 * comes first, and not for new jobs: requests that arrive meanwhile go out
 * together as the next batch, like a group commit. RabbitMQ's cost per
 * message falls steeply with batch size (bench/README.md, fourth pass).
 * With nothing in flight a new job wakes it at once, so a lone request
 * never waits; the timeout is then a second, to retry a lost broker and
 * to read from a healthy one so heartbeats flow (an idle connection that
 * never reads is dropped by the broker). Call only after
 * mq_publisher_poll(pub, 0, ...) (see mq_conn_socket). */
static void wait_for_work(struct api_intake *intake)
{
    if (intake->pub && mq_publisher_in_flight(intake->pub) > 0) {
        struct pollfd broker = {.fd = mq_conn_socket(intake->conn), .events = POLLIN};
        (void)poll(&broker, 1, GATHER_MS);
        return;
    }
    (void)wr_handoff_wait(&intake->jobs, mq_conn_socket(intake->conn), 1000);
}

static void publish_jobs(struct api_intake *intake, struct api_intake_job *jobs)
{
    while (jobs) {
        struct api_intake_job *job = jobs;
        jobs = jobs->next;
        struct wr_error err;
        if (!ensure_connected(intake)) {
            wr_error_set(&err, WR_ERR_CONNECTION, "the broker is unavailable");
            finish_job(job, WR_ERR_CONNECTION, &err);
            continue;
        }
        wr_status status = mq_publish(intake->pub, job->msg, job, &err);
        if (status != WR_OK) {
            finish_job(job, status, &err);
            if (status == WR_ERR_CONNECTION || !mq_conn_is_open(intake->conn))
                drop_connection(intake);
        }
    }
}

static void *intake_thread(void *arg)
{
    struct api_intake *intake = arg;
    bool stopping = false;
    ensure_connected(intake);
    while (!stopping) {
        struct api_intake_job *jobs = wr_handoff_take(&intake->jobs, &stopping);
        ensure_connected(intake);
        publish_jobs(intake, jobs);
        if (intake->pub) {
            struct wr_error err;
            if (mq_publisher_poll(intake->pub, 0, &err) != WR_OK &&
                !mq_conn_is_open(intake->conn)) {
                wr_log(WR_LOG_WARN, "intake", "broker connection lost: %s", err.message);
                drop_connection(intake);
            }
        }
        if (!stopping)
            wait_for_work(intake);
    }
    if (intake->pub) {
        struct wr_error err;
        if (mq_publisher_flush(intake->pub, intake->options.confirm_timeout_ms, &err) != WR_OK)
            wr_log(WR_LOG_WARN, "intake", "at shutdown: %s", err.message);
    }
    atomic_store(&intake->connected, false); /* closed, not lost: no warning */
    close_connection(intake);
    return NULL;
}

struct api_intake *api_intake_start(const struct api_intake_options *options,
                                    struct wr_error *err)
{
    struct api_intake *intake = calloc(1, sizeof *intake);
    if (!intake) {
        wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    intake->options = *options;
    if (!intake->options.max_in_flight)
        intake->options.max_in_flight = 1024;
    if (wr_handoff_start(&intake->jobs, offsetof(struct api_intake_job, next), intake_thread,
                         intake, err) != WR_OK) {
        free(intake);
        return NULL;
    }
    return intake;
}

void api_intake_stop(struct api_intake *intake)
{
    if (!intake)
        return;
    wr_handoff_finish(&intake->jobs);
    free(intake);
}

void api_intake_submit(struct api_intake *intake, struct api_intake_job *job)
{
    if (!wr_handoff_push(&intake->jobs, job)) {
        struct wr_error err;
        wr_error_set(&err, WR_ERR_CONNECTION, "the API is shutting down");
        finish_job(job, WR_ERR_CONNECTION, &err);
    }
}

/* A job and a place to wait for it, for api_intake_publish(). */
struct waiting_job {
    struct api_intake_job job; /* first: the callback gets its address */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool done;
    wr_status result;
    struct wr_error detail;
};

static void wake_waiter(struct api_intake_job *job, wr_status result,
                        const struct wr_error *detail)
{
    struct waiting_job *w = (struct waiting_job *)job;
    pthread_mutex_lock(&w->lock);
    w->result = result;
    w->detail = *detail;
    w->done = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

wr_status api_intake_publish(struct api_intake *intake, const struct mq_message *msg,
                             struct wr_error *err)
{
    struct waiting_job w = {.job = {.msg = msg, .done = wake_waiter}};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.wake, NULL);
    api_intake_submit(intake, &w.job);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.wake, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.wake);
    pthread_mutex_destroy(&w.lock);
    if (err)
        *err = w.detail;
    return w.result;
}

bool api_intake_connected(struct api_intake *intake)
{
    return atomic_load(&intake->connected);
}
