/* The API's one path to the broker: a publisher thread that owns the AMQP
 * connection and keeps many confirmed publishes in flight for all request
 * threads at once. A request thread hands over its message and sleeps
 * until the broker confirmed, nacked or returned it, or it timed out; no
 * request waits for another's round trip. While the broker is away
 * requests fail fast (503) and the thread reconnects by itself. */
#ifndef WARREN_API_INTAKE_H
#define WARREN_API_INTAKE_H

#include <stdbool.h>

#include "broker/broker.h"
#include "core/status.h"

struct api_intake;

struct api_intake_options {
    struct mq_conn_options conn;
    int64_t confirm_timeout_ms; /* 0 = 5000 */
    size_t max_in_flight;       /* 0 = 1024 */
};

/* Starts the publisher thread. It connects in the background, so this
 * succeeds while the broker is down. NULL only when out of resources.
 * Stop with api_intake_stop(). */
struct api_intake *api_intake_start(const struct api_intake_options *options,
                                    struct wr_error *err);

/* Fails whatever is queued, waits for the thread and frees everything. */
void api_intake_stop(struct api_intake *intake);

/* One publish handed to the thread. The caller owns it (and msg, with
 * its strings) until done() has been called, exactly once, from the
 * publishing thread (or from api_intake_submit itself when the API is
 * stopping): result is WR_OK only when the broker confirmed the message.
 * done() must not block. */
struct api_intake_job {
    const struct mq_message *msg;
    void (*done)(struct api_intake_job *job, wr_status result, const struct wr_error *detail);
    struct api_intake_job *next; /* private to intake.c */
};

/* Queues job for publishing (mandatory, confirmed). Safe from any thread. */
void api_intake_submit(struct api_intake *intake, struct api_intake_job *job);

/* api_intake_submit, then waits for the outcome: WR_OK only when the
 * broker confirmed it. */
wr_status api_intake_publish(struct api_intake *intake, const struct mq_message *msg,
                             struct wr_error *err) WR_MUST_CHECK;

/* True while the connection to the broker is up. */
bool api_intake_connected(struct api_intake *intake);

#endif
