/* Integration tests of warren-api through real HTTP against the real
 * broker and database: every status code of SPEC.md, the order.placed
 * message read back from a queue, Idempotency-Keys under concurrency, and
 * the broker going away and coming back. */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/idempotency.h"
#include "api/keyring.h"
#include "broker/broker.h"
#include "tests/support/broker.h"
#include "tests/support/db.h"
#include "tests/support/http.h"
#include "tests/support/programs.h"
#include "tests/support/support.h"

static const char good_body[] =
    "{\"customer\":{\"id\":\"c-42\",\"email\":\"ana@example.com\",\"phone\":\"+4915112345678\","
    "\"name\":\"Ana \\\"%s\\\" \xf0\x9f\x9b\x92\"},"
    "\"items\":[{\"sku\":\"TEE-RED-M\",\"quantity\":2}],\"currency\":\"EUR\","
    "\"payment\":{\"method\":\"card\",\"token\":\"pm_card_visa\"},"
    "\"shipping_address\":{\"line1\":\"Hauptstr. 1\",\"city\":\"Berlin\",\"postal_code\":\"10115\","
    "\"country\":\"DE\"},\"notify\":[\"email\",\"sms\"]}";

static struct ts_api api;
static char queue[96];
static char exchange[96]; /* this test's own, so no other binding makes orders routable */
static struct mq_conn *conn;
static char tls_cert[128]; /* set by the HTTPS fixture */
static char tls_key[128];

/* ---- HTTP ---------------------------------------------------------------------- */

/* Sends method path with the given extra headers (NULL-terminated) and
 * body; asserts an answer came. r is zeroed or holds an earlier reply. */
static void http(const char *method, const char *path, const char *const *headers, const char *body,
                 size_t body_len, struct ts_http_reply *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", api.base_url, path);
    struct ts_http_request request = {.method = method,
                                      .url = url,
                                      .headers = headers,
                                      .body = body,
                                      .body_len = body_len,
                                      .ca_file = tls_cert[0] ? tls_cert : NULL};
    ts_http_send(&request, r);
    ck_assert_msg(r->status != 0, "%s %s: %s", method, path, r->error);
}

static void post_order(const char *key, const char *idempotency_key, const char *body,
                       struct ts_http_reply *r)
{
    char auth[128], idem[320];
    const char *headers[5] = {"Content-Type: application/json"};
    size_t n = 1;
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        headers[n++] = auth;
    }
    if (idempotency_key) {
        snprintf(idem, sizeof idem, "Idempotency-Key: %s", idempotency_key);
        headers[n++] = idem;
    }
    http("POST", "/v1/orders", headers, body, strlen(body), r);
}

/* Asserts r is an error answer with this status, code and field. */
static void assert_error(const struct ts_http_reply *r, long status, const char *code,
                         const char *field)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    json_error_t json_error;
    json_t *root = json_loads(r->body, 0, &json_error);
    ck_assert_msg(root != NULL, "not JSON: %s", r->body);
    json_t *error = json_object_get(root, "error");
    ck_assert_str_eq(json_string_value(json_object_get(error, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(error, "message")));
    if (field)
        ck_assert_str_eq(json_string_value(json_object_get(error, "field")), field);
    else
        ck_assert_ptr_null(json_object_get(error, "field"));
    json_decref(root);
}

/* ---- broker side ------------------------------------------------------------ */

static void bind_test_queue(void)
{
    struct wr_error err;
    struct mq_exchange_spec orders = {.name = exchange, .type = MQ_EXCHANGE_TOPIC};
    struct mq_queue_spec spec = {.name = queue, .type = MQ_QUEUE_QUORUM};
    struct mq_binding_spec binding = {
        .exchange = exchange, .queue = queue, .routing_key = "order.placed"};
    ck_assert_msg(mq_declare_exchange(conn, &orders, &err) == WR_OK, "%s", err.message);
    ck_assert_msg(mq_declare_queue(conn, &spec, &err) == WR_OK, "%s", err.message);
    ck_assert_msg(mq_bind_queue(conn, &binding, &err) == WR_OK, "%s", err.message);
}

static unsigned depth(void)
{
    return ts_queue_depth(conn, queue);
}

/* Takes the next message of the test queue (asserting one comes). */
static struct mq_delivery *next_message(void)
{
    struct mq_delivery *delivery = ts_next_delivery(queue, 5000);
    ck_assert_msg(delivery != NULL, "no message on %s", queue);
    return delivery;
}

/* ---- fixture ---------------------------------------------------------------- */

static void setup(void)
{
    ts_unique_name("api-test", queue, sizeof queue);
    ts_unique_name("api-test-orders", exchange, sizeof exchange);
    conn = ts_broker_connect("warren-api-test");
    bind_test_queue();
    setenv("WARREN_BROKER_CONFIRM_TIMEOUT", "2s", 1);
    ts_api_start(&api, exchange, tls_cert[0] ? tls_cert : NULL, tls_key[0] ? tls_key : NULL);
    /* the publisher thread connects in the background: wait for readiness */
    ts_api_wait_ready(&api, 10000);
}

static void teardown(void)
{
    ts_api_stop(&api);
    if (conn && mq_conn_is_open(conn)) {
        struct wr_error err;
        (void)mq_delete_queue(conn, queue, &err);
        (void)mq_delete_exchange(conn, exchange, &err);
    }
    mq_conn_close(conn);
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(accepted_order_is_on_the_queue_with_properties_and_headers)
{
    struct ts_http_reply r = {0};
    char auth[] = "Authorization: Bearer shop-a-key";
    char trace[] = "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const char *headers[] = {"Content-Type: application/json; charset=utf-8", auth, trace, NULL};
    http("POST", "/v1/orders", headers, good_body, strlen(good_body), &r);
    ck_assert_msg(r.status == 202, "%ld %s", r.status, r.body);
    json_t *answer = json_loads(r.body, 0, NULL);
    const char *order_id = json_string_value(json_object_get(answer, "order_id"));
    ck_assert_int_eq(strlen(order_id), 36);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "status")), "accepted");
    char location[128];
    snprintf(location, sizeof location, "/v1/orders/%s", order_id);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "status_url")), location);
    ck_assert_str_eq(r.location, location);
    ck_assert_str_eq(r.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

    struct mq_delivery *d = next_message();
    ck_assert_str_eq(d->type, "order.placed");
    ck_assert_str_eq(d->correlation_id, order_id);
    ck_assert_str_eq(d->content_type, "application/json");
    ck_assert_int_eq(d->delivery_mode, 2);
    ck_assert_int_eq(strlen(d->message_id), 36);
    ck_assert_int_gt(d->timestamp, 1700000000);
    ck_assert_str_eq(d->routing_key, "order.placed");
    ck_assert_int_eq(mq_delivery_header(d, "x-attempt")->integer, 1);
    ck_assert_str_eq(mq_delivery_header(d, "traceparent")->string,
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ck_assert_str_eq(mq_delivery_header(d, "x-storefront")->string, "shop-a");
    json_t *placed = json_loads(d->body, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(placed, "order_id")), order_id);
    ck_assert_str_eq(json_string_value(json_object_get(placed, "storefront")), "shop-a");
    ck_assert(json_is_null(json_object_get(placed, "idempotency_key")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(placed, "placed_at")));
    json_t *sent = json_loads(good_body, 0, NULL);
    const char *key;
    json_t *value;
    json_object_foreach(sent, key, value)
    {
        ck_assert_msg(json_equal(value, json_object_get(placed, key)), "field %s changed", key);
    }
    json_decref(sent);
    json_decref(placed);
    json_decref(answer);
    mq_delivery_free(d);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(generated_traceparent_is_returned_and_sent)
{
    struct ts_http_reply r = {0};
    post_order("shop-a-key", NULL, good_body, &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_int_eq(strlen(r.traceparent), 55);
    struct mq_delivery *d = next_message();
    ck_assert_str_eq(mq_delivery_header(d, "traceparent")->string, r.traceparent);
    mq_delivery_free(d);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(authentication_and_routing_errors)
{
    struct ts_http_reply r = {0};
    post_order(NULL, NULL, good_body, &r);
    assert_error(&r, 401, "unauthorized", "Authorization");
    post_order("wrong-key", NULL, good_body, &r);
    assert_error(&r, 401, "unauthorized", "Authorization");
    post_order("admin-key", NULL, good_body, &r);
    assert_error(&r, 403, "forbidden", NULL);
    http("GET", "/v2/anything", NULL, NULL, 0, &r);
    assert_error(&r, 404, "not_found", NULL);
    http("DELETE", "/v1/orders", NULL, NULL, 0, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    ck_assert_str_eq(r.allow, "POST");
    http("GET", "/healthz", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    http("GET", "/metrics", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "warren_api_requests_total{route=\"POST /v1/orders\","
                                         "status=\"401\"} 2"));
    ck_assert_ptr_nonnull(strstr(r.body, "warren_api_request_duration_seconds_bucket"));
    ck_assert_int_eq(depth(), 0);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(bad_bodies_get_4xx_and_publish_nothing)
{
    static const struct {
        const char *body;
        size_t len;
        const char *code;
        const char *field;
    } cases[] = {
        {"{\"customer\":", 12, "invalid_json", NULL},
        {"[1,2]", 5, "invalid_field", NULL},
        {"{\"customer\":{\"email\":\"a@b\"}}\0", 30, "invalid_json", NULL},
        {"{\"customer\":{\"email\":\"\xff\xfe\"}}", 28, "invalid_json", NULL},
        {"{\"items\":1e999}", 15, "invalid_json", NULL},
        {"{\"a\":1,\"a\":2}", 13, "duplicate_key", NULL},
        {"{\"customer\":{\"email\":\"a@b\"},\"items\":[{\"sku\":\"A\",\"quantity\":\"1\"}],"
         "\"currency\":\"EUR\",\"payment\":{\"method\":\"card\",\"token\":\"t\"}}",
         0, "invalid_field", "items[0].quantity"},
        {"{\"customer\":{\"email\":\"a@b\"},\"items\":[{\"sku\":\"A\",\"quantity\":1,\"price\":1}],"
         "\"currency\":\"EUR\",\"payment\":{\"method\":\"card\",\"token\":\"t\"}}",
         0, "unknown_field", "items[0].price"},
    };
    struct ts_http_reply r = {0};
    char auth[] = "Authorization: Bearer shop-a-key";
    const char *headers[] = {"Content-Type: application/json", auth, NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
        http("POST", "/v1/orders", headers, cases[i].body, len, &r);
        assert_error(&r, 400, cases[i].code, cases[i].field);
    }
    /* deep nesting */
    char *deep = malloc(200001);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    http("POST", "/v1/orders", headers, deep, 65536, &r);
    ck_assert_int_eq(r.status, 400);
    /* over 64 KiB, and exactly 64 KiB (allowed in size, refused as JSON) */
    http("POST", "/v1/orders", headers, deep, 65537, &r);
    assert_error(&r, 413, "body_too_large", NULL);
    free(deep);
    /* not JSON */
    const char *text_headers[] = {"Content-Type: text/plain", auth, NULL};
    http("POST", "/v1/orders", text_headers, good_body, strlen(good_body), &r);
    assert_error(&r, 415, "unsupported_media_type", "Content-Type");
    const char *latin1[] = {"Content-Type: application/json; charset=latin1", auth, NULL};
    http("POST", "/v1/orders", latin1, good_body, strlen(good_body), &r);
    assert_error(&r, 415, "unsupported_media_type", "Content-Type");
    post_order("shop-a-key", "bad\x01key", good_body, &r);
    assert_error(&r, 400, "invalid_header", "Idempotency-Key");
    ck_assert_int_eq(depth(), 0);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(idempotency_key_replays_conflicts_and_mismatches)
{
    struct ts_http_reply first = {0}, again = {0}, other = {0}, reordered = {0};
    char key[64];
    ts_unique_name("idem", key, sizeof key);
    post_order("shop-a-key", key, good_body, &first);
    ck_assert_int_eq(first.status, 202);
    /* the same JSON value, keys reordered and spaced differently */
    json_t *value = json_loads(good_body, 0, NULL);
    char *respaced = json_dumps(value, JSON_SORT_KEYS | JSON_INDENT(3));
    post_order("shop-a-key", key, respaced, &reordered);
    ck_assert_int_eq(reordered.status, 202);
    ck_assert_str_eq(reordered.body, first.body);
    post_order("shop-a-key", key, good_body, &again);
    ck_assert_int_eq(again.status, 202);
    ck_assert_str_eq(again.body, first.body);
    ck_assert_str_eq(again.location, first.location);
    json_object_set_new(value, "currency", json_string("USD"));
    char *changed = json_dumps(value, 0);
    post_order("shop-a-key", key, changed, &other);
    assert_error(&other, 422, "idempotency_key_reused", "Idempotency-Key");
    free(respaced);
    free(changed);
    json_decref(value);
    ck_assert_int_eq(depth(), 1);
    struct mq_delivery *d = next_message();
    json_t *placed = json_loads(d->body, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(placed, "idempotency_key")), key);
    json_decref(placed);
    mq_delivery_free(d);
    ts_http_reply_free(&first);
    ts_http_reply_free(&again);
    ts_http_reply_free(&other);
    ts_http_reply_free(&reordered);
}
END_TEST

START_TEST(key_in_flight_elsewhere_gives_409)
{
    /* another API process holds the key (claimed, not answered) */
    char key[64];
    struct wr_error err;
    struct api_idem_result claim;
    ts_unique_name("held", key, sizeof key);
    struct db_conn *db = ts_db("api");
    json_t *value = json_loads(good_body, 0, NULL);
    char *canonical = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
    char hash[65];
    api_sha256_hex(canonical, strlen(canonical), hash);
    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, hash, "12345678-1234-4234-8234-123456789012",
                                    60, &claim, &err),
                     WR_OK);
    ck_assert_int_eq(claim.claim, API_IDEM_NEW);
    struct ts_http_reply r = {0};
    post_order("shop-a-key", key, good_body, &r);
    assert_error(&r, 409, "request_in_progress", "Idempotency-Key");
    ck_assert_int_eq(depth(), 0);
    free(canonical);
    json_decref(value);
    db_close(db);
    ts_http_reply_free(&r);
}
END_TEST

struct racer {
    char key[64];
    struct ts_http_reply reply;
};

static void *race(void *arg)
{
    struct racer *racer = arg;
    post_order("shop-a-key", racer->key, good_body, &racer->reply);
    return NULL;
}

START_TEST(concurrent_duplicates_yield_one_message)
{
    enum { RACERS = 16 };
    struct racer racers[RACERS] = {0};
    pthread_t threads[RACERS];
    char key[64];
    ts_unique_name("race", key, sizeof key);
    for (int i = 0; i < RACERS; i++) {
        snprintf(racers[i].key, sizeof racers[i].key, "%s", key);
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    int accepted = 0;
    const char *order_body = NULL;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        long status = racers[i].reply.status;
        ck_assert_msg(status == 202 || status == 409, "racer %d got %ld", i, status);
        if (status == 202) {
            accepted++;
            if (order_body)
                ck_assert_str_eq(racers[i].reply.body, order_body);
            order_body = racers[i].reply.body;
        }
    }
    ck_assert_int_ge(accepted, 1);
    struct ts_http_reply after = {0};
    post_order("shop-a-key", key, good_body, &after);
    ck_assert_int_eq(after.status, 202);
    ck_assert_str_eq(after.body, order_body);
    ck_assert_int_eq(depth(), 1);
    ts_http_reply_free(&after);
    for (int i = 0; i < RACERS; i++)
        ts_http_reply_free(&racers[i].reply);
}
END_TEST

START_TEST(rate_limit_answers_429_with_retry_after)
{
    struct ts_http_reply r = {0};
    int limited = 0;
    for (int i = 0; i < 4; i++) {
        post_order("limited-key", NULL, good_body, &r);
        if (r.status == 429) {
            assert_error(&r, 429, "rate_limited", NULL);
            ck_assert_int_ge(strtol(r.retry_after, NULL, 10), 1);
            limited++;
        } else {
            ck_assert_int_eq(r.status, 202);
        }
    }
    ck_assert_int_eq(limited, 2);
    ck_assert_int_eq(depth(), 2);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(unroutable_order_is_503_not_202)
{
    struct wr_error err;
    /* no queue bound: the mandatory publish is returned */
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    struct ts_http_reply r = {0};
    post_order("shop-a-key", NULL, good_body, &r);
    assert_error(&r, 503, "unavailable", NULL);
    ck_assert_str_eq(r.retry_after, "1");
    bind_test_queue();
    post_order("shop-a-key", NULL, good_body, &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_int_eq(depth(), 1);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(broker_down_gives_503_then_recovers_without_restart)
{
    struct ts_http_reply r = {0};
    post_order("shop-a-key", NULL, good_body, &r);
    ck_assert_int_eq(r.status, 202);
    mq_conn_close(conn);
    conn = NULL;
    ck_assert_int_eq(ts_run("scripts/stack stop rabbitmq >/dev/null"), 0);
    for (int i = 0; i < 3; i++) {
        post_order("shop-a-key", NULL, good_body, &r);
        assert_error(&r, 503, "unavailable", NULL);
        ck_assert_str_eq(r.retry_after, "1");
    }
    http("GET", "/readyz", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(ts_run("scripts/stack start rabbitmq >/dev/null"), 0);
    conn = ts_broker_connect("warren-api-test");
    ts_api_wait_ready(&api, 30000);
    post_order("shop-a-key", NULL, good_body, &r);
    ck_assert_msg(r.status == 202, "%ld %s", r.status, r.body);
    /* the quorum queue kept the first order; the 503s published nothing */
    ck_assert_int_eq(depth(), 2);
    ts_http_reply_free(&r);
}
END_TEST

START_TEST(sigterm_exits_cleanly)
{
    ck_assert_int_eq(ts_api_stop(&api), 0);
}
END_TEST

/* HTTPS: the same API serving a certificate from config. */
static void setup_tls(void)
{
    ts_scratch_path("api.crt", tls_cert, sizeof tls_cert);
    ts_scratch_path("api.key", tls_key, sizeof tls_key);
    char command[512];
    snprintf(command, sizeof command,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout %s -out %s 2>/dev/null",
             tls_key, tls_cert);
    ck_assert_int_eq(ts_run(command), 0);
    setup();
}

static void teardown_tls(void)
{
    teardown();
    unlink(tls_cert);
    unlink(tls_key);
}

START_TEST(https_serves_orders_with_the_configured_certificate)
{
    ck_assert_int_eq(strncmp(api.base_url, "https://", 8), 0);
    struct ts_http_reply r = {0};
    post_order("shop-a-key", NULL, good_body, &r);
    ck_assert_msg(r.status == 202, "%ld %s", r.status, r.body);
    ck_assert_int_eq(depth(), 1);
    ts_http_reply_free(&r);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *suite = suite_create("api_http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, accepted_order_is_on_the_queue_with_properties_and_headers);
    tcase_add_test(tc, generated_traceparent_is_returned_and_sent);
    tcase_add_test(tc, authentication_and_routing_errors);
    tcase_add_test(tc, bad_bodies_get_4xx_and_publish_nothing);
    tcase_add_test(tc, idempotency_key_replays_conflicts_and_mismatches);
    tcase_add_test(tc, key_in_flight_elsewhere_gives_409);
    tcase_add_test(tc, concurrent_duplicates_yield_one_message);
    tcase_add_test(tc, rate_limit_answers_429_with_retry_after);
    tcase_add_test(tc, unroutable_order_is_503_not_202);
    tcase_add_test(tc, broker_down_gives_503_then_recovers_without_restart);
    tcase_add_test(tc, sigterm_exits_cleanly);
    suite_add_tcase(suite, tc);
    TCase *tls = tcase_create("https");
    tcase_set_timeout(tls, 120);
    tcase_add_checked_fixture(tls, setup_tls, teardown_tls);
    tcase_add_test(tls, https_serves_orders_with_the_configured_certificate);
    suite_add_tcase(suite, tls);
    int status = ts_run_suite(suite);
    curl_global_cleanup();
    return status;
}
