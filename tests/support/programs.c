/* Starting and stopping warren-worker and warren-api for tests (see
 * programs.h): the environment each needs, a log file, readiness. */
#include "tests/support/programs.h"

#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/http.h"
#include "tests/support/support.h"

/* Sanitizer builds: a report inside libesmtp that is not ours (see
 * tests/support/asan.supp), unless the caller chose suppressions. */
static void suppress_libesmtp_report(void)
{
    const char *options = getenv("ASAN_OPTIONS");
    char supp[512], value[2048];
    if (options && strstr(options, "suppressions="))
        return;
    ts_source_path("tests/support/asan.supp", supp, sizeof supp);
    snprintf(value, sizeof value, "%s%ssuppressions=%s", options ? options : "",
             options && *options ? ":" : "", supp);
    setenv("ASAN_OPTIONS", value, 1);
}

/* WARREN_DATABASE_<SERVICE>_URL. */
static void set_database(const char *service)
{
    char name[64], url[256];
    snprintf(name, sizeof name, "WARREN_DATABASE_%s_URL", service);
    for (char *p = name; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    setenv(name, ts_db_url(service, url, sizeof url), 1);
}

/* Without a world: the real topology's file and exchange. */
static void use_real_topology(void)
{
    char topology[512];
    setenv("WARREN_TOPOLOGY_FILE",
           ts_source_path("topology/topology.yaml", topology, sizeof topology), 1);
    setenv("WARREN_BROKER_URL", ts_broker_url(), 1);
    unsetenv("WARREN_BROKER_EXCHANGE");
}

/* Starts warren-worker --service service [--queue queue]. */
static pid_t start_worker(const char *service, const char *queue, const char *crash_at)
{
    char program[64], log[256];
    snprintf(program, sizeof program, "%s-worker", service);
    ts_scratch_log(program, log, sizeof log);
    set_database(service);
    suppress_libesmtp_report();
    if (crash_at)
        setenv("WARREN_CRASH_AT", crash_at, 1);
    char *argv[] = {WARREN_WORKER_BIN, "--service", (char *)service, NULL, NULL, NULL};
    if (queue) {
        argv[3] = "--queue";
        argv[4] = (char *)queue;
    }
    pid_t pid = ts_spawn(argv, log);
    unsetenv("WARREN_CRASH_AT");
    return pid;
}

pid_t ts_worker_start(const struct ts_world *w, const char *service, const char *crash_at)
{
    char queue[160];
    if (!w)
        use_real_topology();
    return start_worker(service, w ? ts_world_queue(w, service, "", queue, sizeof queue) : NULL,
                        crash_at);
}

pid_t ts_worker_start_on(const char *service, const char *queue)
{
    return start_worker(service, queue, NULL);
}

int ts_worker_logs_contain(const char *service, const char *needle)
{
    char name[96], pattern[256];
    glob_t logs;
    int found = 0;
    snprintf(name, sizeof name, "%s-worker-%d-*.log", service, (int)getpid()); /* start_worker's */
    if (glob(ts_scratch_path(name, pattern, sizeof pattern), 0, NULL, &logs) != 0)
        return 0;
    for (size_t i = 0; i < logs.gl_pathc && !found; i++) {
        char *text = ts_read_file(logs.gl_pathv[i]);
        found = text && strstr(text, needle) != NULL;
        free(text);
    }
    globfree(&logs);
    return found;
}

int ts_worker_stop(pid_t pid)
{
    return ts_stop(pid, SIGTERM, 15000);
}

int ts_workers_stop(pid_t *pids, size_t count)
{
    int first = 0;
    for (size_t i = 0; i < count; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (size_t i = 0; i < count; i++) {
        int status = pids[i] > 0 ? ts_reap(pids[i], 15000) : 0;
        first = first ? first : status;
        pids[i] = 0;
    }
    return first;
}

static void set_api_environment(const char *port, const char *exchange)
{
    char keys[512], db[256];
    setenv("WARREN_API_PORT", port, 1);
    setenv("WARREN_API_KEYS_FILE", ts_source_path("tests/support/api-keys.yaml", keys, sizeof keys),
           1);
    setenv("WARREN_API_DATABASE_URL", ts_db_url("api", db, sizeof db), 1);
    set_database("order"); /* GET /v1/orders/{id} reads the order service's */
    setenv("WARREN_BROKER_URL", ts_broker_url(), 1);
    setenv("WARREN_BROKER_EXCHANGE", exchange, 1);
}

void ts_api_start(struct ts_api *api, const char *exchange, const char *tls_cert,
                  const char *tls_key)
{
    char port[16], health[128];
    snprintf(port, sizeof port, "%d", ts_free_port());
    snprintf(api->base_url, sizeof api->base_url, "%s://localhost:%s", tls_cert ? "https" : "http",
             port);
    ts_scratch_log("api", api->log, sizeof api->log);
    setenv("WARREN_API_TLS_CERT", tls_cert ? tls_cert : "", 1);
    setenv("WARREN_API_TLS_KEY", tls_key ? tls_key : "", 1);
    set_api_environment(port, exchange);
    char *argv[] = {WARREN_API_BIN, NULL};
    api->pid = ts_spawn(argv, api->log);
    snprintf(health, sizeof health, "%s/healthz", api->base_url);
    ck_assert_msg(ts_http_wait(health, 10000) == 0, "warren-api did not start; see %s", api->log);
}

void ts_api_wait_ready(const struct ts_api *api, int timeout_ms)
{
    char ready[128];
    snprintf(ready, sizeof ready, "%s/readyz", api->base_url);
    ck_assert_msg(ts_http_wait(ready, timeout_ms) == 0, "warren-api not ready; see %s", api->log);
}

void ts_fleet_start(struct ts_fleet *fleet, const struct ts_world *w)
{
    char port[16], ready[128];
    snprintf(port, sizeof port, "%d", ts_free_port());
    snprintf(fleet->base_url, sizeof fleet->base_url, "http://localhost:%s", port);
    ts_scratch_log("fleet", fleet->log, sizeof fleet->log);
    /* its socket beside its log: <scratch>/fleet-<pid>-<n>.sock */
    snprintf(fleet->socket, sizeof fleet->socket, "%.*s.sock", (int)(strlen(fleet->log) - 4),
             fleet->log);
    setenv("WARREN_FLEET_CONTROL_SOCKET", fleet->socket, 1);
    setenv("WARREN_API_TLS_CERT", "", 1);
    setenv("WARREN_API_TLS_KEY", "", 1);
    set_api_environment(port, w->prefix);
    suppress_libesmtp_report();
    char *argv[] = {WARREN_FLEET_BIN, NULL};
    fleet->pid = ts_spawn(argv, fleet->log);
    snprintf(ready, sizeof ready, "%s/readyz", fleet->base_url);
    ck_assert_msg(ts_http_wait(ready, 20000) == 0, "warren-fleet's API not ready; see %s",
                  fleet->log);
    for (int waited = 0; access(fleet->socket, F_OK) != 0 && waited < 5000; waited += 50)
        ts_sleep_ms(50);
    ck_assert_msg(access(fleet->socket, F_OK) == 0, "no control socket %s; see %s", fleet->socket,
                  fleet->log);
}

int ts_fleet_stop(struct ts_fleet *fleet, int timeout_ms)
{
    if (fleet->pid <= 0)
        return 0;
    int status = ts_stop(fleet->pid, SIGTERM, timeout_ms);
    fleet->pid = 0;
    return status;
}

int ts_api_stop(struct ts_api *api)
{
    if (api->pid <= 0)
        return 0;
    int status = ts_stop(api->pid, SIGTERM, 10000);
    api->pid = 0;
    return status;
}
