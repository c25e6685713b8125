/* Helpers for tests that run warren's workers against the real stack:
 * apply the real topology, start and kill workers, publish saga messages,
 * and read back what the workers published. */
#ifndef WARREN_TESTS_WORKERS_HARNESS_H
#define WARREN_TESTS_WORKERS_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "broker/broker.h"
#include "core/db.h"

/* Applies topology/topology.yaml with the warrenctl binary (asserts). */
void th_apply_topology(void);

/* Purges a queue (asserts). */
void th_purge(struct mq_conn *conn, const char *queue);

/* Starts warren-worker for service; crash_at (or NULL) becomes
 * WARREN_CRASH_AT. Its log goes to /tmp/warren-<service>-<pid>-<n>.log. */
pid_t th_start_worker(const char *service, const char *crash_at);

/* Waits up to timeout_ms for pid to exit by itself; returns its wait
 * status, or -1 on timeout. */
int th_wait_exit(pid_t pid, int timeout_ms);

/* Publishes a saga message (confirmed) to exchange "orders" over a
 * connection of its own. */
void th_publish(const char *type, const char *order_id, json_t *body);

/* Declares a fresh queue bound to "orders" for each routing key in keys
 * (NULL-terminated) and returns its name (static storage per call slot). */
const char *th_reader(struct mq_conn *conn, const char *const *keys, char *name, size_t size);

/* Counts the messages of type for order_id in reader, waiting up to
 * wait_ms for at least want of them, then settle_ms more for extras. The
 * messages are consumed. */
int th_count(const char *reader, const char *type, const char *order_id, int want, int wait_ms,
             int settle_ms);

/* Runs a query with one parameter and returns the first cell as a number
 * (0 when there is no row). */
long th_db_number(struct db_conn *db, const char *sql, const char *param);

/* Polls th_db_number until it equals want or timeout_ms passes; returns the last value. */
long th_db_wait(struct db_conn *db, const char *sql, const char *param, long want, int timeout_ms);

/* A connection to the local stack's broker / a service's database (asserts). */
struct mq_conn *th_broker(void);
struct db_conn *th_db(const char *service);

/* A fresh order id (UUID v4). */
void th_order_id(char out[37]);

#endif
