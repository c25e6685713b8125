/* Test helpers for the stub gateways of tests/stubs/ (payment, SMS):
 * start one on a port, talk to its control API, and make sure every
 * process a test started is gone even when the test failed half-way. */
#ifndef WARREN_TESTS_STUBS_H
#define WARREN_TESTS_STUBS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* Starts tests/stubs/<script> (Python, stdlib only) on a free port with
 * one optional extra argument, waits until GET /_stats answers, writes its
 * base URL ("http://127.0.0.1:PORT") into base, and tracks its pid (see
 * stub_track). Asserts on failure. Its log goes to
 * /tmp/warren-<script>-<pid>.log. */
pid_t stub_start(const char *script, const char *extra_arg, char *base, size_t size);

/* POSTs body (JSON text) to base+path; returns the HTTP status (0 when
 * there was no answer). */
long stub_post(const char *base, const char *path, const char *body);

/* GETs base+path and returns the JSON answer (asserts it is JSON); the
 * caller frees it with json_decref. */
json_t *stub_get(const char *base, const char *path);

/* In the test runner, before the tests (an unchecked fixture): names the
 * file where the forked tests record what they start. */
void stub_tracking_begin(void);

/* Records pid (a worker or a stub started by this test), so that
 * stub_reap_tracked can kill it from the runner after a failed test, whose
 * checked teardown does not run. Returns pid. */
pid_t stub_track(pid_t pid);

/* In the runner (an unchecked fixture): SIGKILLs every tracked process
 * still alive whose command line is warren-worker or a stub, then forgets them. */
void stub_reap_tracked(void);

#endif
