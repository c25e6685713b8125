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

/* Publishes msg (mandatory, confirmed) and blocks until its fate is known:
 * WR_OK only when the broker confirmed it. msg and its strings must stay
 * valid until this returns. Safe from any number of threads. */
wr_status api_intake_publish(struct api_intake *intake, const struct mq_message *msg,
                             struct wr_error *err) WR_MUST_CHECK;

/* True while the connection to the broker is up. */
bool api_intake_connected(struct api_intake *intake);

#endif
