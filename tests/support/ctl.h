/* Running the warrenctl binary (WARRENCTL_BIN) as a process and capturing
 * what it says: the exit status, stdout and stderr. The environment
 * (WARREN_* set by the test or its world) is inherited. */
#ifndef WARREN_TESTS_SUPPORT_CTL_H
#define WARREN_TESTS_SUPPORT_CTL_H

#include <jansson.h>
#include <sys/types.h>

struct ts_ctl_run {
    int status; /* exit status, or 128+signal */
    char *out;  /* stdout, NUL-terminated (owned) */
    char *err;  /* stderr, NUL-terminated (owned; "" for ts_ctl_merged) */
};

/* Runs warrenctl with args (NULL-terminated, without argv[0], at most 30)
 * and fills run; free it with ts_ctl_free. Asserts the process ran. */
void ts_ctl(struct ts_ctl_run *run, const char *const *args);

/* The same with stderr written into out too, interleaved as the program
 * wrote them (like `2>&1`). */
void ts_ctl_merged(struct ts_ctl_run *run, const char *const *args);

void ts_ctl_free(struct ts_ctl_run *run);

/* Runs warrenctl with args (ending in --json), asserts exit 0 and returns
 * its stdout parsed (free with json_decref). */
json_t *ts_ctl_json(const char *const *args);

/* Starts warrenctl with args in the background (its output goes to
 * <scratch>/warrenctl-<test pid>-<n>.log); reap it with ts_reap. */
pid_t ts_ctl_start(const char *const *args);

/* `warrenctl topology apply FILE`; asserts exit 0 (with its output). */
void ts_ctl_apply_topology(const char *file);

/* Writes csv_text to a temporary file, runs `warrenctl catalog import` on
 * it and asserts exit 0 (with its output); removes the file. */
void ts_ctl_catalog_import(const char *csv_text);

#endif
