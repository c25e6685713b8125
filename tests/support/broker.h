/* The broker side of tests (over broker/): connections to the stack's
 * RabbitMQ, queue depth, consumers and purges, publishing saga messages
 * as warren's producers do (confirmed), and reading back what workers
 * published. Every function asserts on a broker error unless it says
 * otherwise. The publisher and the reader are per process (each check test
 * runs in a child of its own); ts_broker_disconnect closes them. */
#ifndef WARREN_TESTS_SUPPORT_BROKER_H
#define WARREN_TESTS_SUPPORT_BROKER_H

#include <jansson.h>
#include <stddef.h>

#include "broker/broker.h"

/* A connection to the stack's broker named name (asserts); close it with
 * mq_conn_close. */
struct mq_conn *ts_broker_connect(const char *name);

/* Polls until the broker (AMQP and management API) answers, for up to 30 s
 * (another test may be restarting it); asserts it did. */
void ts_broker_wait_up(void);

/* Declares a durable queue of type with no other arguments. */
void ts_declare_queue(struct mq_conn *conn, const char *name, enum mq_queue_type type);

/* Declares the classic queue name bound to exchange with each routing key
 * of keys (NULL-terminated, or NULL: unbound). */
void ts_declare_reader(struct mq_conn *conn, const char *exchange, const char *name,
                       const char *const *keys);

void ts_purge(struct mq_conn *conn, const char *queue);

/* Ready messages of queue (a passive declare: exact), over conn or, for
 * ts_depth, a connection of its own. */
unsigned ts_queue_depth(struct mq_conn *conn, const char *queue);
unsigned ts_depth(const char *queue);

/* Polls ts_depth(queue) until it is at least want or timeout_ms passes;
 * returns the last depth. */
unsigned ts_wait_depth(const char *queue, unsigned want, int timeout_ms);

/* Waits up to 15 s until queue has at least n consumers; returns how many
 * it has. Does not assert (setup code asserts later, so that its teardown
 * still stops the workers). */
unsigned ts_wait_consumers(const char *queue, unsigned n);

/* The management API's record of queue (GET /api/queues/%2F/QUEUE) as
 * JSON, or NULL when it does not answer 200. Its figures lag the broker by
 * up to the statistics interval (5 s). The caller frees it. */
json_t *ts_mgmt_queue(const char *queue);

/* A figure of ts_mgmt_queue: "consumers", "messages_unacknowledged", or
 * one level down as "message_stats.redeliver"; 0 when absent, -1 when the
 * queue is not found. */
long ts_mgmt_figure(const char *queue, const char *field);

/* Polls ts_mgmt_figure until it equals want or timeout_ms passes; returns
 * the last value. Never asserts. */
long ts_mgmt_wait(const char *queue, const char *field, long want, int timeout_ms);

/* Publishes body to exchange with routing key and type `type`,
 * correlation_id order_id, a fresh message_id, timestamp, persistent,
 * headers x-attempt 1, traceparent (a fixed one) and x-storefront
 * storefront (or none when NULL); pipelined with confirms on the process's
 * publisher. ts_publish_flush waits for every confirm and asserts each was
 * an ack. */
void ts_publish(const char *exchange, const char *type, const char *order_id,
                const char *storefront, json_t *body);
void ts_publish_flush(void);

/* The next message of queue as {"type", "order_id", "body"} (body parsed
 * JSON, or null), or NULL after timeout_ms; consumed (acked) through the
 * process's reader. Free with json_decref. */
json_t *ts_next_message(const char *queue, int timeout_ms);

/* The body of the next message of type for order_id in queue (others are
 * consumed and dropped); NULL if none came within wait_ms. The caller frees
 * it with json_decref. */
json_t *ts_next_body(const char *queue, const char *type, const char *order_id, int wait_ms);

/* Counts the messages of type for order_id in queue: waits up to wait_ms
 * for want of them, then settle_ms more for extras. Everything read is
 * consumed. */
int ts_count_messages(const char *queue, const char *type, const char *order_id, int want,
                      int wait_ms, int settle_ms);

/* The next delivery of queue, with all its properties and headers, over a
 * connection of its own, acked; NULL if none within timeout_ms. Free with
 * mq_delivery_free. */
struct mq_delivery *ts_next_delivery(const char *queue, int timeout_ms);

/* Closes this process's publisher and reader (if any). */
void ts_broker_disconnect(void);

#endif
