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

#include <sys/types.h>

/* Starts argv[0] with argv (NULL-terminated) as a child process whose
 * stderr goes to log_path (truncated). Returns its pid (asserting on
 * failure). Environment variables set by the test are inherited. */
pid_t ts_spawn(char *const argv[], const char *log_path);

/* Sends sig to pid and waits up to timeout_ms for it to exit; then
 * SIGKILLs it. Returns the exit status (0-255), or 128+signal. */
int ts_stop(pid_t pid, int sig, int timeout_ms);

/* Polls url with HTTP GET until it answers 200 or timeout_ms passes;
 * returns 0 when it answered. */
int ts_http_wait(const char *url, int timeout_ms);

/* A port for a server started by a test: 20000 + (pid % 20000) + offset. */
int ts_port(int offset);

#endif
