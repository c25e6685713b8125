/* Helpers for topology integration tests against the local stack: a test
 * topology with unique names, a canonical snapshot of what the broker holds
 * under a name prefix (read through the management API), and cleanup. */
#ifndef WARREN_TESTS_INTEGRATION_TOPOLOGY_HELPERS_H
#define WARREN_TESTS_INTEGRATION_TOPOLOGY_HELPERS_H

#include <stddef.h>

#include "broker/broker.h"
#include "tests/support/broker.h"
#include "tests/support/support.h"

/* Objects the test topology derives: 2 exchanges, 7 queues, 4 bindings. */
#define IT_TOPOLOGY_OBJECTS 13

/* Writes the test topology (queues "<prefix>-work", quorum with two retry
 * tiers, and "<prefix>-audit", classic with one) into out. With
 * audit_quorum the audit queue is declared quorum instead (drift). */
void it_topology_text(const char *prefix, int audit_quorum, char *out, size_t size);

/* Everything on the broker whose name starts with prefix, one sorted line
 * per exchange, queue (type, durable and every argument) and binding.
 * Caller frees. */
char *it_snapshot(const char *prefix);

/* Deletes every queue and exchange whose name starts with prefix. */
void it_cleanup(const char *prefix);

#endif
