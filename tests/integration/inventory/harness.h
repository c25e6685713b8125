/* Helpers for the inventory, catalog and analytics tests against the real
 * stack. Each test program gets a broker world of its own: a topic
 * exchange and a service queue with unique names (a topology file written
 * for it and applied with the warrenctl binary; workers use it through
 * WARREN_BROKER_EXCHANGE and WARREN_TOPOLOGY_FILE), so other tests on the
 * same stack neither see its messages nor take them. */
#ifndef WARREN_TESTS_INTEGRATION_INVENTORY_HARNESS_H
#define WARREN_TESTS_INTEGRATION_INVENTORY_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/db.h"

struct ih_world {
    char prefix[64];    /* unique: also the exchange's name */
    char queue[96];     /* "<prefix>-<service>", consumed by the workers */
    char reader[96];    /* "<prefix>-reader": the test reads answers here */
    char topology[160]; /* the topology file written for this world */
};

/* Creates the world for service: its queue as topology/topology.yaml
 * declares the queue of that service (type, prefetch, retry, bindings),
 * renamed and bound to the world's exchange; the reader bound to each key
 * of reader_keys (NULL-terminated, or NULL); and sets the WARREN_*
 * variables workers and warrenctl inherit (broker, exchange, topology,
 * database URLs). Asserts on failure. */
void ih_world_create(struct ih_world *w, const char *service, const char *const *reader_keys);

/* Deletes the world's queues (with retry tiers and dead-letter queue),
 * reader and exchange, and its topology file. */
void ih_world_destroy(struct ih_world *w);

/* Starts a warren-worker of service on the world's queue; its log goes to
 * /tmp/warren-it-<service>-<pid>-<n>.log. */
pid_t ih_start_worker(const struct ih_world *w, const char *service);

/* Waits up to 15 s until the world's queue has at least n consumers;
 * returns how many it has (setup does not assert, so that its teardown
 * still stops the workers). */
unsigned ih_wait_consumers(const struct ih_world *w, unsigned n);

/* SIGTERM; returns the worker's exit status (SIGKILL after 15 s: 137). */
int ih_stop_worker(pid_t pid);

/* Publishes type with correlation_id order_id, x-storefront storefront
 * (or none) and body to the world's exchange, as the saga's producers
 * do; with confirms, pipelined. ih_flush waits for every confirm. */
void ih_publish(const struct ih_world *w, const char *type, const char *order_id,
                const char *storefront, json_t *body);
void ih_flush(void);

/* The next message of the reader as {type, order_id, body}, or NULL after
 * timeout_ms. Consumed (acked). Free with json_decref. */
json_t *ih_next_answer(const struct ih_world *w, int timeout_ms);

/* Closes this process's publisher and reader connections (if any). */
void ih_disconnect(void);

/* Number of messages waiting in queue. */
unsigned ih_depth(const char *queue);

/* A warrenctl run: exit status, stdout and stderr. */
struct ih_run {
    int status;
    char *out;
    char *err;
};

/* Runs the warrenctl binary with args (NULL-terminated, without argv[0]). */
void ih_warrenctl(struct ih_run *run, const char *const *args);
void ih_run_free(struct ih_run *run);

/* Writes text to a new file /tmp/warren-it-<pid>-<n><suffix>; path receives its name. */
void ih_write_temp(const char *text, const char *suffix, char *path, size_t size);

/* A connection to the local stack's database of service (asserts). */
struct db_conn *ih_db(const char *service);

/* The first cell of sql (with up to two parameters) as a number; 0 when
 * there is no row or it is NULL. */
long ih_db_number(struct db_conn *db, const char *sql, const char *p1, const char *p2);

/* Polls ih_db_number until it equals want or timeout_ms passes; returns
 * the last value. */
long ih_db_wait(struct db_conn *db, const char *sql, const char *p1, const char *p2, long want,
                int timeout_ms);

/* A fresh UUID v4. */
void ih_uuid(char out[37]);

void ih_sleep_ms(int ms);

#endif
