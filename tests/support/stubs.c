/* The stub gateways (see stubs.h): starting one on a free port it
 * announces, and reading its control API. */
#include "tests/support/stubs.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/http.h"
#include "tests/support/support.h"

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

pid_t ts_stub_start(const char *script, const char *extra_arg, char *base, size_t size)
{
    char path[512], log[256], ready[160];
    int port = 0;
    ts_source_path("tests/stubs/", path, sizeof path);
    strncat(path, script, sizeof path - strlen(path) - 1);
    ts_scratch_log(script, log, sizeof log);
    char *argv[] = {"/usr/bin/python3", path, "0", (char *)extra_arg, NULL};
    pid_t pid = ts_spawn(argv, log);
    for (int waited = 0; !(port = announced_port(log)) && waited < 10000; waited += 20)
        ts_sleep_ms(20);
    ck_assert_msg(port > 0, "%s did not start; see %s", script, log);
    snprintf(base, size, "http://127.0.0.1:%d", port);
    snprintf(ready, sizeof ready, "%s/_stats", base);
    ck_assert_msg(ts_http_wait(ready, 10000) == 0, "%s did not answer; see %s", script, log);
    return pid;
}

pid_t ts_payment_stub_start(const char *timeout, char *base, size_t size)
{
    pid_t pid = ts_stub_start("payment_gateway.py", NULL, base, size);
    setenv("WARREN_PAYMENT_GATEWAY_URL", base, 1);
    setenv("WARREN_PAYMENT_TIMEOUT", timeout, 1);
    unsetenv("WARREN_PAYMENT_API_KEY");
    return pid;
}

void ts_stub_control(const char *base, const char *command)
{
    ck_assert_int_eq(ts_http_post_json(base, "/_control", command), 200);
}

long ts_stub_stat(const char *base, const char *name)
{
    json_t *stats = ts_http_get_json(base, "/_stats");
    long value = (long)json_integer_value(json_object_get(stats, name));
    json_decref(stats);
    return value;
}

int ts_stub_charges_for(const char *base, const char *order_id)
{
    json_t *stats = ts_http_get_json(base, "/_stats"), *intent;
    size_t i;
    int count = 0;
    json_array_foreach(json_object_get(stats, "intents"), i, intent)
    {
        const char *id =
            json_string_value(json_object_get(json_object_get(intent, "metadata"), "order_id"));
        count += id && strcmp(id, order_id) == 0;
    }
    json_decref(stats);
    return count;
}

json_t *ts_sms_messages(const char *base, const char *needle)
{
    json_t *messages = ts_http_get_json(base, "/_messages"), *m;
    json_t *matching = json_array();
    size_t i;
    json_array_foreach(messages, i, m)
    {
        const char *body = json_string_value(json_object_get(m, "body"));
        if (body && strstr(body, needle))
            json_array_append(matching, m);
    }
    json_decref(messages);
    return matching;
}

/* How many SMS mention needle. */
static int sms_count(const char *base, const char *needle)
{
    json_t *matching = ts_sms_messages(base, needle);
    int count = (int)json_array_size(matching);
    json_decref(matching);
    return count;
}

int ts_sms_wait(const char *base, const char *needle, int want, int wait_ms, int settle_ms)
{
    int count = sms_count(base, needle);
    for (int waited = 0; count < want && waited < wait_ms; waited += 100) {
        ts_sleep_ms(100);
        count = sms_count(base, needle);
    }
    ts_sleep_ms(settle_ms);
    return sms_count(base, needle);
}
