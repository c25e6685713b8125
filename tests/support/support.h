/* tests/support/: the one harness of warren's tests. This header is its base:
 * source-tree paths, the local stack's addresses (from the environment,
 * defaulting to scripts/stack-env's ports), unique names, temporary files
 * and child processes. The other headers here build on it: http.h, broker.h,
 * world.h, db.h, ctl.h, programs.h, stubs.h, mail.h. */
#ifndef WARREN_TESTS_SUPPORT_H
#define WARREN_TESTS_SUPPORT_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

/* Runs every test of suite (check's fork mode, normal output) and returns
 * EXIT_SUCCESS when all passed, else EXIT_FAILURE: a test program's main.
 * Makes the scratch folder first (see ts_scratch_path); removes it when all
 * passed, and otherwise names it on stderr with the last lines of every log
 * in it. */
int ts_run_suite(Suite *suite);

/* ---- paths and the stack's addresses ------------------------------------------------- */

/* Absolute path of a file under the source tree (WARREN_SOURCE_DIR, set by
 * ctest), e.g. "tests/unit/topology/fixtures/good.yaml". Written into out;
 * returns out. */
const char *ts_source_path(const char *relative, char *out, size_t out_size);

/* The stack's folder (WARREN_RUN_DIR, else <source>/run). Written into out. */
const char *ts_run_dir(char *out, size_t out_size);

/* AMQP URL of the stack's broker (WARREN_BROKER_URL or the default). */
const char *ts_broker_url(void);

/* Management HTTP API base URL with credentials (WARREN_BROKER_MANAGEMENT_URL
 * or the default). */
const char *ts_management_url(void);

/* PostgreSQL URL of the stack's database of service ("order", ..., "api"),
 * from WARREN_PG_PORT (default 5442). Written into out; returns out. */
const char *ts_db_url(const char *service, char *out, size_t out_size);

/* Base URLs of the stack's stub gateways (scripts/stack start): the
 * WARREN_PAYMENT_GATEWAY_URL / WARREN_SMS_GATEWAY_URL, else 127.0.0.1 on
 * WARREN_PAYMENT_STUB_PORT / WARREN_SMS_STUB_PORT (defaults 12111, 12112). */
const char *ts_payment_gateway_url(char *out, size_t out_size);
const char *ts_sms_gateway_url(char *out, size_t out_size);

/* ---- names, time, files ---------------------------------------------------------------- */

/* A name unique to this process and call, for queues, exchanges, keys:
 * "<prefix>-<pid>-<counter>". Written into out; returns out. */
const char *ts_unique_name(const char *prefix, char *out, size_t out_size);

/* A fresh UUID v4 (lower case). */
void ts_uuid(char out[37]);

void ts_sleep_ms(int ms);

/* The path of name in this test program's scratch folder: a fresh folder
 * /tmp/warren-test-XXXXXX (mkdtemp) shared by its forked tests
 * (WARREN_TEST_SCRATCH). Every log, socket and file the tests write goes
 * there, so nothing an earlier run left in /tmp can pass for this run's.
 * Written into out; returns out. */
const char *ts_scratch_path(const char *name, char *out, size_t out_size);

/* A new log's path in the scratch folder: <scratch>/<program>-<pid>-<n>.log,
 * named by ts_unique_name. Written into out; returns out. */
const char *ts_scratch_log(const char *program, char *out, size_t out_size);

/* Writes text to a new file <scratch>/temp-XXXXXX<suffix> (asserts);
 * path receives its name. The caller unlinks it. */
void ts_write_temp(const char *text, const char *suffix, char *path, size_t size);

/* The whole file at path, NUL-terminated; NULL if it cannot be read. The
 * caller frees it. */
char *ts_read_file(const char *path);

/* Runs a shell command line (e.g. "scripts/stack stop smtp") from the
 * source tree; returns its exit status, or -1 if it could not run. */
int ts_run(const char *command_line);

/* ---- processes ------------------------------------------------------------------------- */

/* Starts argv[0] with argv (NULL-terminated) as a child process whose
 * stdout and stderr go to log_path (removed first, so it only ever holds
 * this child's output); the environment is inherited. Returns its pid
 * (aborts when fork fails) and records it for ts_reap_tracked. */
pid_t ts_spawn(char *const argv[], const char *log_path);

/* Sends sig to pid and waits up to timeout_ms for it to exit; then
 * SIGKILLs it. Returns the exit status (0-255), or 128+signal. */
int ts_stop(pid_t pid, int sig, int timeout_ms);

/* Waits up to timeout_ms for pid to exit (a signal was sent before); then
 * SIGKILLs it. Returns the exit status (0-255), or 128+signal. */
int ts_reap(pid_t pid, int timeout_ms);

/* Waits up to timeout_ms for pid to exit by itself; returns its wait
 * status, or -1 on timeout. */
int ts_wait_exit(pid_t pid, int timeout_ms);

/* A TCP port for a server started by a test: the next one free on
 * 127.0.0.1 in 20000-31999, below the kernel's ephemeral range (32768 and
 * up), so no outgoing connection holds it by chance. Each process starts
 * at 20000 + (pid * 131) % 12000, so tests with neighbouring pids (check
 * forks one per test, ctest runs two programs at once) look far apart, and
 * never hands out the same port twice, even before its server binds it.
 * Asserts one was found. */
int ts_free_port(void);

/* Process tracking, for test runners whose forked tests start processes:
 * a failed test's checked teardown does not run, so in the runner (an
 * unchecked fixture) ts_track_begin names a file where ts_spawn records
 * every pid, and ts_reap_tracked SIGKILLs those still alive that run
 * warren-worker, warren-api, warren-fleet (its workers then get SIGTERM) or
 * a stub of tests/stubs/, then forgets them. */
void ts_track_begin(void);
void ts_reap_tracked(void);

#endif
