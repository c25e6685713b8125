/* Broker worlds: a test's own topic exchange with copies of the real
 * topology/topology.yaml queues of some services (type, prefetch, retry,
 * bindings), renamed "<prefix>-<service>", plus a reader queue for the
 * test. A topology file is written for it and applied with the warrenctl
 * binary; workers and the API use it through WARREN_BROKER_EXCHANGE and
 * WARREN_TOPOLOGY_FILE, so other tests on the same stack (or a fleet
 * running on the real topology) neither see its messages nor take them. */
#ifndef WARREN_TESTS_SUPPORT_WORLD_H
#define WARREN_TESTS_SUPPORT_WORLD_H

#include <stddef.h>

struct ts_world {
    char prefix[64];    /* unique: also the exchange's name */
    char queue[96];     /* "<prefix>-<first service>" */
    char reader[96];    /* "<prefix>-reader": the test reads answers here */
    char topology[256]; /* the topology file written for this world */
};

/* Creates the world of services (one name, or several separated by
 * spaces: "order inventory payment"; "order:2" gives the queue
 * `workers: 2` for warren-fleet, else 1), the reader bound to each key of
 * reader_keys (NULL-terminated, or NULL), and sets the WARREN_* variables
 * that workers, the API and warrenctl inherit (broker, exchange, topology,
 * log level warn, every service's database URL). Waits for a restarting
 * broker first. Asserts on failure; undo with ts_world_destroy. */
void ts_world_create(struct ts_world *w, const char *services, const char *const *reader_keys);

/* Deletes the world's queues (with their retry tiers and dead-letter
 * queues), reader and exchange, and its topology file. Never asserts. */
void ts_world_destroy(struct ts_world *w);

/* The world's queue of service, "<prefix>-<service><suffix>" (suffix ""
 * or e.g. ".dead"), written into out. */
const char *ts_world_queue(const struct ts_world *w, const char *service, const char *suffix,
                           char *out, size_t size);

#endif
