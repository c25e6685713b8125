/* Integration tests of broker/'s declarations and management API reader
 * against the local stack's RabbitMQ: idempotent declares, 406 on
 * different arguments with the connection still usable, passive inspect,
 * the live state with decoded x-arguments, and connection/HTTP errors. */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/broker/helpers.h"
#include "tests/support/support.h"

START_TEST(test_redeclare_with_other_arguments)
{
    char queue[128];
    tb_name("args", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct wr_error err;
    struct mq_queue_spec spec = {.name = queue, .type = MQ_QUEUE_CLASSIC, .message_ttl_ms = 60000};
    ck_assert_int_eq(mq_declare_queue(conn, &spec, &err), WR_OK);
    ck_assert_int_eq(mq_declare_queue(conn, &spec, &err), WR_OK); /* idempotent */

    spec.message_ttl_ms = 1000;
    ck_assert_int_eq(mq_declare_queue(conn, &spec, &err), WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(err.code, WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(err.reply_code, 406);
    ck_assert_msg(strstr(err.message, "PRECONDITION_FAILED") &&
                      strstr(err.message, "x-message-ttl") && strstr(err.message, queue),
                  "%s", err.message);
    ck_assert(mq_conn_is_open(conn));

    /* a quorum declare of the classic queue: 406 as well */
    spec.message_ttl_ms = 60000;
    spec.type = MQ_QUEUE_QUORUM;
    ck_assert_int_eq(mq_declare_queue(conn, &spec, &err), WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(err.reply_code, 406);

    /* the connection is still usable */
    uint32_t messages = 7, consumers = 7;
    ck_assert_int_eq(mq_queue_inspect(conn, queue, &messages, &consumers, &err), WR_OK);
    ck_assert_uint_eq(messages, 0);
    ck_assert_uint_eq(consumers, 0);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(conn);
}
END_TEST

START_TEST(test_inspect_missing_and_delete_twice)
{
    char queue[128], exchange[128];
    tb_name("gone", queue, sizeof queue);
    tb_name("gonex", exchange, sizeof exchange);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct wr_error err;
    ck_assert_int_eq(mq_queue_inspect(conn, queue, NULL, NULL, &err), WR_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, queue));
    ck_assert(mq_conn_is_open(conn));
    ts_declare_queue(conn, queue, MQ_QUEUE_QUORUM);
    ck_assert_uint_eq(ts_queue_depth(conn, queue), 0);
    ck_assert_int_eq(mq_purge_queue(conn, queue, &err), WR_OK);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK); /* missing is fine */
    ck_assert_int_eq(mq_delete_exchange(conn, exchange, &err), WR_OK);
    ck_assert_int_eq(mq_purge_queue(conn, queue, &err), WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(err.reply_code, 404);
    ck_assert(mq_conn_is_open(conn));
    mq_conn_close(conn);
}
END_TEST

static const struct mq_live_queue *find_queue(const struct mq_live_state *s, const char *name)
{
    for (size_t i = 0; i < s->queue_count; i++) {
        if (strcmp(s->queues[i].spec.name, name) == 0)
            return &s->queues[i];
    }
    return NULL;
}

static const struct mq_live_exchange *find_exchange(const struct mq_live_state *s, const char *name)
{
    for (size_t i = 0; i < s->exchange_count; i++) {
        if (strcmp(s->exchanges[i].spec.name, name) == 0)
            return &s->exchanges[i];
    }
    return NULL;
}

static bool has_binding(const struct mq_live_state *s, const char *exchange, const char *queue,
                        const char *key)
{
    for (size_t i = 0; i < s->binding_count; i++) {
        const struct mq_binding_spec *b = &s->bindings[i];
        if (!strcmp(b->exchange, exchange) && !strcmp(b->queue, queue) &&
            !strcmp(b->routing_key, key))
            return true;
    }
    return false;
}

/* Creates a queue through the management API with arguments warren's
 * model does not cover (so they must come back in other_arguments). */
static void put_queue(const char *queue, const char *json_body)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/queues/%%2F/%s", ts_management_url(), queue);
    CURL *curl = curl_easy_init();
    ck_assert_ptr_nonnull(curl);
    struct curl_slist *headers = curl_slist_append(NULL, "content-type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    ck_assert_int_eq(curl_easy_perform(curl), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    ck_assert_msg(code == 201 || code == 204, "PUT %s: HTTP %ld", queue, code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

struct live_names {
    char exchange[128], quorum[128], classic[128], foreign[128];
};

static void declare_live_objects(struct mq_conn *conn, struct live_names *n)
{
    struct wr_error err;
    struct mq_exchange_spec x = {.name = n->exchange, .type = MQ_EXCHANGE_TOPIC};
    ck_assert_int_eq(mq_declare_exchange(conn, &x, &err), WR_OK);
    struct mq_queue_spec q = {.name = n->quorum,
                              .type = MQ_QUEUE_QUORUM,
                              .message_ttl_ms = 30000,
                              .dead_letter_exchange = "",
                              .dead_letter_routing_key = "payment.dead",
                              .dl_strategy = MQ_DL_AT_LEAST_ONCE,
                              .overflow = MQ_OVERFLOW_REJECT_PUBLISH,
                              .max_length = 1000};
    ck_assert_msg(mq_declare_queue(conn, &q, &err) == WR_OK, "%s", err.message);
    ts_declare_queue(conn, n->classic, MQ_QUEUE_CLASSIC);
    struct mq_binding_spec b = {
        .exchange = n->exchange, .queue = n->quorum, .routing_key = "payment.*"};
    ck_assert_int_eq(mq_bind_queue(conn, &b, &err), WR_OK);
    put_queue(n->foreign, "{\"durable\":true,\"arguments\":{\"x-expires\":600000,"
                          "\"x-overflow\":\"drop-head\",\"x-queue-type\":\"classic\"}}");
}

static void check_live_objects(const struct mq_live_state *live, const struct live_names *n)
{
    const struct mq_live_exchange *x = find_exchange(live, n->exchange);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->spec.type, MQ_EXCHANGE_TOPIC);
    ck_assert(x->durable && !x->auto_delete);
    const struct mq_live_queue *q = find_queue(live, n->quorum);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(q->spec.type, MQ_QUEUE_QUORUM);
    ck_assert(q->durable);
    ck_assert_int_eq(q->spec.message_ttl_ms, 30000);
    ck_assert_str_eq(q->spec.dead_letter_exchange, "");
    ck_assert_str_eq(q->spec.dead_letter_routing_key, "payment.dead");
    ck_assert_int_eq(q->spec.dl_strategy, MQ_DL_AT_LEAST_ONCE);
    ck_assert_int_eq(q->spec.overflow, MQ_OVERFLOW_REJECT_PUBLISH);
    ck_assert_int_eq(q->spec.max_length, 1000);
    ck_assert_ptr_null(q->other_arguments);
    const struct mq_live_queue *c = find_queue(live, n->classic);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->spec.type, MQ_QUEUE_CLASSIC);
    ck_assert(c->spec.message_ttl_ms == 0 && !c->spec.dead_letter_exchange &&
              c->spec.overflow == MQ_OVERFLOW_DEFAULT && c->spec.max_length == 0);
    ck_assert_ptr_null(c->other_arguments);
    const struct mq_live_queue *f = find_queue(live, n->foreign);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->spec.type, MQ_QUEUE_CLASSIC);
    ck_assert_ptr_nonnull(f->other_arguments);
    ck_assert_str_eq(f->other_arguments, "{\"x-expires\":600000,\"x-overflow\":\"drop-head\"}");
    ck_assert(has_binding(live, n->exchange, n->quorum, "payment.*"));
    for (size_t i = 0; i < live->exchange_count; i++)
        ck_assert(strncmp(live->exchanges[i].spec.name, "amq.", 4) != 0 &&
                  live->exchanges[i].spec.name[0] != '\0');
    for (size_t i = 0; i < live->binding_count; i++)
        ck_assert(live->bindings[i].exchange[0] != '\0');
}

START_TEST(test_live_state_decodes_arguments)
{
    struct live_names n;
    tb_name("livex", n.exchange, sizeof n.exchange);
    tb_name("liveq", n.quorum, sizeof n.quorum);
    tb_name("livec", n.classic, sizeof n.classic);
    tb_name("livef", n.foreign, sizeof n.foreign);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    declare_live_objects(conn, &n);
    struct mq_live_state live;
    struct wr_error err;
    ck_assert_msg(mq_live_state_fetch(ts_management_url(), NULL, &live, &err) == WR_OK, "%s",
                  err.message);
    check_live_objects(&live, &n);
    mq_live_state_free(&live);
    ck_assert_int_eq(mq_delete_queue(conn, n.quorum, &err), WR_OK);
    ck_assert_int_eq(mq_delete_queue(conn, n.classic, &err), WR_OK);
    ck_assert_int_eq(mq_delete_queue(conn, n.foreign, &err), WR_OK);
    ck_assert_int_eq(mq_delete_exchange(conn, n.exchange, &err), WR_OK);
    mq_conn_close(conn);
}
END_TEST

START_TEST(test_management_errors_are_clear)
{
    struct mq_live_state live;
    struct wr_error err;
    /* wrong password: 401, and the password never shows */
    char url[512];
    snprintf(url, sizeof url, "%s", ts_management_url());
    char *at = strrchr(url, '@');
    ck_assert_ptr_nonnull(at);
    char bad[600];
    snprintf(bad, sizeof bad, "http://warren:S3cretWrong%s", at);
    ck_assert_int_eq(mq_live_state_fetch(bad, "/", &live, &err), WR_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "401") && !strstr(err.message, "S3cretWrong"), "%s",
                  err.message);
    ck_assert_uint_eq(live.queue_count, 0);
    /* nothing listening */
    ck_assert_int_eq(mq_live_state_fetch("http://u:S3cretWrong@127.0.0.1:1", "/", &live, &err),
                     WR_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "127.0.0.1:1") && !strstr(err.message, "S3cretWrong"), "%s",
                  err.message);
    /* unknown vhost */
    ck_assert_int_eq(mq_live_state_fetch(ts_management_url(), "no-such-vhost", &live, &err),
                     WR_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_connect_errors_are_clear)
{
    struct wr_error err;
    struct mq_conn_options refused = {.url = "amqp://u:S3cretWrong@127.0.0.1:1/",
                                      .connect_timeout_ms = 2000};
    ck_assert_ptr_null(mq_conn_open(&refused, &err));
    ck_assert_int_eq(err.code, WR_ERR_CONNECTION);
    ck_assert_msg(strstr(err.message, "127.0.0.1:1") && !strstr(err.message, "S3cretWrong"), "%s",
                  err.message);

    char url[512];
    snprintf(url, sizeof url, "amqp://warren:S3cretWrong@%s", strchr(ts_broker_url(), '@') + 1);
    struct mq_conn_options denied = {.url = url};
    ck_assert_ptr_null(mq_conn_open(&denied, &err));
    ck_assert_int_eq(err.code, WR_ERR_CONNECTION);
    ck_assert_msg(strstr(err.message, "ACCESS_REFUSED") && !strstr(err.message, "S3cretWrong"),
                  "%s", err.message);
    ck_assert_int_eq(err.reply_code, 403);

    struct mq_conn_options bad = {.url = "http://nope"};
    ck_assert_ptr_null(mq_conn_open(&bad, &err));
    ck_assert_int_eq(err.code, WR_ERR_INVALID);
}
END_TEST

static Suite *declare_suite(void)
{
    Suite *s = suite_create("broker declare");
    TCase *tc = tcase_create("declare");
    tcase_add_unchecked_fixture(tc, tb_setup, tb_teardown);
    tcase_add_test(tc, test_redeclare_with_other_arguments);
    tcase_add_test(tc, test_inspect_missing_and_delete_twice);
    tcase_add_test(tc, test_live_state_decodes_arguments);
    tcase_add_test(tc, test_management_errors_are_clear);
    tcase_add_test(tc, test_connect_errors_are_clear);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(declare_suite());
}
