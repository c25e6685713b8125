/* Helpers shared by warren's tests: fixture paths and the local stack's
 * addresses (from the environment, defaulting to scripts/stack's ports). */
#ifndef WARREN_TESTS_SUPPORT_H
#define WARREN_TESTS_SUPPORT_H

#include <stddef.h>

/* Absolute path of a file under the source tree, e.g.
 * ts_source_path("tests/unit/topology/fixtures/good.yaml"). Static buffer
 * per call site is not needed: the result is written into out. */
const char *ts_source_path(const char *relative, char *out, size_t out_size);

/* AMQP URL of the local stack's broker (WARREN_BROKER_URL or the default). */
const char *ts_broker_url(void);

/* Management HTTP API base URL with credentials (WARREN_BROKER_MANAGEMENT_URL
 * or the default). */
const char *ts_management_url(void);

/* PostgreSQL URL of the local stack's database of service ("order", ...),
 * from WARREN_PG_PORT (default 5442). Written into out. */
const char *ts_db_url(const char *service, char *out, size_t out_size);

/* Runs a shell command line (e.g. "scripts/stack stop-broker") from the
 * source tree; returns its exit status, or -1 if it could not run. */
int ts_run(const char *command_line);

/* A name unique to this process and call, for queues and exchanges:
 * "<prefix>-<pid>-<counter>". Written into out. */
const char *ts_unique_name(const char *prefix, char *out, size_t out_size);

#endif
