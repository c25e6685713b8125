/* Starting the stub gateways and talking to their control API over
 * libcurl, and the pid file that lets the test runner kill what a failed
 * test left running (see stubs.h). */
#include "tests/stubs/stubs.h"

#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/support.h"

#define PIDFILE_ENV "WARREN_TEST_PIDFILE"

/* The port the stub announced on the first line of its log, or 0. */
static int announced_port(const char *log)
{
    int port = 0;
    FILE *file = fopen(log, "r");
    if (file) {
        if (fscanf(file, "listening on 127.0.0.1:%d", &port) != 1)
            port = 0;
        fclose(file);
    }
    return port;
}

pid_t stub_start(const char *script, const char *extra_arg, char *base, size_t size)
{
    char path[512], log[160], ready[160];
    int port = 0;
    ts_source_path("tests/stubs/", path, sizeof path);
    strncat(path, script, sizeof path - strlen(path) - 1);
    snprintf(log, sizeof log, "/tmp/warren-%s-%d.log", script, (int)getpid());
    char *argv[] = {"/usr/bin/python3", path, "0", (char *)extra_arg, NULL};
    pid_t pid = stub_track(ts_spawn(argv, log));
    for (int waited = 0; !(port = announced_port(log)) && waited < 10000; waited += 20) {
        struct timespec pause = {0, 20000000};
        nanosleep(&pause, NULL);
    }
    ck_assert_msg(port > 0, "%s did not start; see %s", script, log);
    snprintf(base, size, "http://127.0.0.1:%d", port);
    snprintf(ready, sizeof ready, "%s/_stats", base);
    ck_assert_msg(ts_http_wait(ready, 10000) == 0, "%s did not answer; see %s", script, log);
    return pid;
}

struct buffer {
    char data[65536];
    size_t len;
};

static size_t collect(char *data, size_t size, size_t count, void *user)
{
    struct buffer *b = user;
    size_t n = size * count, room = sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, data, n < room ? n : room);
    b->len += n < room ? n : room;
    b->data[b->len] = '\0';
    return n;
}

/* One request; the answer's body goes into b. */
static long request(const char *base, const char *path, const char *body, struct buffer *b)
{
    char url[256];
    long status = 0;
    snprintf(url, sizeof url, "%s%s", base, path);
    b->len = 0;
    b->data[0] = '\0';
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    return status;
}

long stub_post(const char *base, const char *path, const char *body)
{
    static struct buffer b;
    return request(base, path, body, &b);
}

json_t *stub_get(const char *base, const char *path)
{
    static struct buffer b;
    long status = request(base, path, NULL, &b);
    ck_assert_msg(status == 200, "GET %s%s: %ld", base, path, status);
    json_t *root = json_loads(b.data, 0, NULL);
    ck_assert_msg(root != NULL, "GET %s%s: not JSON: %s", base, path, b.data);
    return root;
}

void stub_tracking_begin(void)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/warren-test-pids-%d", (int)getpid());
    setenv(PIDFILE_ENV, path, 1);
}

pid_t stub_track(pid_t pid)
{
    const char *path = getenv(PIDFILE_ENV);
    FILE *file = path ? fopen(path, "a") : NULL;
    if (file) {
        fprintf(file, "%d\n", (int)pid);
        fclose(file);
    }
    return pid;
}

/* True when pid runs warren-worker or one of the stubs (not a reused pid). */
static int is_ours(int pid)
{
    char path[64], cmdline[1024] = "";
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *file = fopen(path, "rb");
    if (!file)
        return 0;
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, file);
    fclose(file);
    for (size_t i = 0; i < n; i++)
        cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
    cmdline[n] = '\0';
    return strstr(cmdline, "warren-worker") || strstr(cmdline, "tests/stubs/");
}

void stub_reap_tracked(void)
{
    const char *path = getenv(PIDFILE_ENV);
    FILE *file = path ? fopen(path, "r") : NULL;
    if (!file)
        return;
    int pid;
    while (fscanf(file, "%d", &pid) == 1)
        if (pid > 0 && is_ours(pid))
            kill(pid, SIGKILL);
    fclose(file);
    unlink(path);
}
