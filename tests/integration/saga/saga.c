/* The saga tests' fleet and storefront (see saga.h): warren-api and the
 * workers of every saga service on a broker world of their own, orders
 * posted and read back over HTTP, catalog and stock through warrenctl and
 * the inventory database. */
#include "tests/integration/saga/saga.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/http.h"
#include "tests/support/support.h"

static const char *const saga_services = "order inventory payment notification analytics";
static const char *const fleet_workers[] = {"order",   "inventory",    "inventory",
                                            "payment", "notification", "analytics"};
static const char *const storefront_headers[] = {"Content-Type: application/json",
                                                 "Authorization: Bearer shop-a-key", NULL};

/* ---- the fleet ------------------------------------------------------------------------- */

void sg_use_stack_stubs(struct sg_fleet *f)
{
    char stats[192];
    ts_payment_gateway_url(f->payment_stub, sizeof f->payment_stub);
    ts_sms_gateway_url(f->sms_stub, sizeof f->sms_stub);
    setenv("WARREN_PAYMENT_GATEWAY_URL", f->payment_stub, 1);
    setenv("WARREN_SMS_GATEWAY_URL", f->sms_stub, 1);
    snprintf(stats, sizeof stats, "%s/_stats", f->payment_stub);
    ck_assert_msg(ts_http_wait(stats, 5000) == 0, "no payment stub at %s (scripts/stack start)",
                  f->payment_stub);
    snprintf(stats, sizeof stats, "%s/_stats", f->sms_stub);
    ck_assert_msg(ts_http_wait(stats, 5000) == 0, "no SMS stub at %s (scripts/stack start)",
                  f->sms_stub);
}

/* Workers of service in the fleet. */
static unsigned running(const struct sg_fleet *f, const char *service)
{
    unsigned n = 0;
    for (size_t i = 0; i < SG_MAX_WORKERS; i++)
        n += f->pid[i] > 0 && strcmp(f->service[i], service) == 0;
    return n;
}

/* Asserts service's queue has a consumer per running worker (within 15 s). */
static void wait_consumers(const struct sg_fleet *f, const char *service)
{
    char queue[160];
    unsigned want = running(f, service);
    ts_world_queue(&f->world, service, "", queue, sizeof queue);
    ck_assert_msg(ts_wait_consumers(queue, want) >= want, "%s: fewer than %u consumers", queue,
                  want);
}

void sg_fleet_add(struct sg_fleet *f, const char *service)
{
    size_t i = 0;
    while (i < SG_MAX_WORKERS && f->pid[i] > 0)
        i++;
    ck_assert_uint_lt(i, SG_MAX_WORKERS);
    f->service[i] = service;
    f->pid[i] = ts_worker_start(&f->world, service, NULL);
    wait_consumers(f, service);
}

void sg_fleet_start(struct sg_fleet *f)
{
    memset(f, 0, sizeof *f);
    f->started_at = time(NULL) - 1;
    ts_world_create(&f->world, saga_services, NULL);
    sg_use_stack_stubs(f);
    for (size_t i = 0; i < sizeof fleet_workers / sizeof fleet_workers[0]; i++) {
        f->service[i] = fleet_workers[i];
        f->pid[i] = ts_worker_start(&f->world, fleet_workers[i], NULL);
    }
    for (size_t i = 0; i < sizeof fleet_workers / sizeof fleet_workers[0]; i++)
        wait_consumers(f, fleet_workers[i]);
    ts_api_start(&f->api, f->world.prefix, NULL, NULL);
    ts_api_wait_ready(&f->api, 10000);
    f->orders = ts_db("order");
    f->inventory = ts_db("inventory");
}

int sg_fleet_stop(struct sg_fleet *f)
{
    int api = ts_api_stop(&f->api), workers = ts_workers_stop(f->pid, SG_MAX_WORKERS);
    int first = api ? api : workers;
    ts_broker_disconnect();
    ts_world_destroy(&f->world);
    db_close(f->orders);
    db_close(f->inventory);
    f->orders = f->inventory = NULL;
    return first;
}

pid_t sg_fleet_doom(struct sg_fleet *f, const char *service, const char *crash_at)
{
    char queue[160];
    pid_t stopping[SG_MAX_WORKERS] = {0};
    for (size_t i = 0; i < SG_MAX_WORKERS; i++) {
        if (f->pid[i] > 0 && strcmp(f->service[i], service) == 0) {
            stopping[i] = f->pid[i];
            f->pid[i] = 0;
        }
    }
    ck_assert_int_eq(ts_workers_stop(stopping, SG_MAX_WORKERS), 0);
    pid_t doomed = ts_worker_start(&f->world, service, crash_at);
    ts_world_queue(&f->world, service, "", queue, sizeof queue);
    ck_assert_msg(ts_wait_consumers(queue, 1) == 1, "%s: the doomed worker did not consume", queue);
    return doomed;
}

/* ---- catalog and stock ----------------------------------------------------------------- */

const char *sg_sku(const struct sg_fleet *f, const char *tag, char *out, size_t size)
{
    snprintf(out, size, "%s-%s", f->world.prefix, tag);
    return out;
}

void sg_import(const struct sg_fleet *f, const char *const *rows)
{
    char text[4096] = "sku,name,price,currency,stock\n";
    size_t used = strlen(text);
    for (size_t i = 0; rows[i]; i++)
        used +=
            (size_t)snprintf(text + used, sizeof text - used, "%s-%s\n", f->world.prefix, rows[i]);
    ts_ctl_catalog_import(text);
}

static const char stock_sql[] = "SELECT stock FROM catalog WHERE sku = $1";

long sg_stock(const struct sg_fleet *f, const char *tag)
{
    char sku[128];
    return ts_db_number(f->inventory, stock_sql, sg_sku(f, tag, sku, sizeof sku), NULL);
}

long sg_wait_stock(const struct sg_fleet *f, const char *tag, long want, int timeout_ms)
{
    char sku[128];
    return ts_db_wait(f->inventory, stock_sql, sg_sku(f, tag, sku, sizeof sku), NULL, want,
                      timeout_ms);
}

/* ---- the storefront -------------------------------------------------------------------- */

/* Items "TAG:QTY TAG:QTY ..." as the order's items array. */
static json_t *items(const struct sg_fleet *f, const char *spec)
{
    char list[256], sku[128], *save = NULL;
    json_t *array = json_array();
    snprintf(list, sizeof list, "%s", spec);
    for (char *item = strtok_r(list, " ", &save); item; item = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(item, ':');
        ck_assert_ptr_nonnull(colon);
        *colon = '\0';
        json_array_append_new(array,
                              json_pack("{s:s, s:I}", "sku", sg_sku(f, item, sku, sizeof sku),
                                        "quantity", (json_int_t)strtol(colon + 1, NULL, 10)));
    }
    return array;
}

json_t *sg_order(const struct sg_fleet *f, const char *email, const char *spec, const char *token,
                 const char *notify)
{
    json_t *channels = json_array();
    json_array_append_new(channels, json_string("email"));
    if (strstr(notify, "sms"))
        json_array_append_new(channels, json_string("sms"));
    return json_pack("{s:{s:s, s:s, s:s}, s:o, s:s, s:{s:s, s:s}, s:o}", "customer", "email", email,
                     "phone", SG_PHONE, "name", "Ana", "items", items(f, spec), "currency", "EUR",
                     "payment", "method", "card", "token", token, "notify", channels);
}

long sg_try_post(const struct sg_fleet *f, const json_t *order, char order_id[37], char *detail,
                 size_t detail_size)
{
    char url[160];
    char *body = json_dumps(order, JSON_COMPACT);
    struct ts_http_reply r = {0};
    snprintf(url, sizeof url, "%s/v1/orders", f->api.base_url);
    ts_http_send(&(struct ts_http_request){.method = "POST",
                                           .url = url,
                                           .headers = storefront_headers,
                                           .body = body,
                                           .body_len = strlen(body)},
                 &r);
    free(body);
    json_t *answer = r.status == 202 ? json_loads(r.body, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(answer, "order_id"));
    snprintf(order_id, 37, "%s", id ? id : "");
    snprintf(detail, detail_size, "%s%s", r.body, r.error);
    json_decref(answer);
    long status = r.status;
    ts_http_reply_free(&r);
    return status;
}

void sg_post(const struct sg_fleet *f, const json_t *order, char order_id[37])
{
    char detail[512];
    long status = sg_try_post(f, order, order_id, detail, sizeof detail);
    ck_assert_msg(status == 202 && order_id[0], "POST /v1/orders: %ld %s", status, detail);
}

json_t *sg_get(const struct sg_fleet *f, const char *order_id)
{
    char url[200];
    struct ts_http_reply r = {0};
    snprintf(url, sizeof url, "%s/v1/orders/%s", f->api.base_url, order_id);
    ts_http_send(&(struct ts_http_request){.url = url, .headers = storefront_headers}, &r);
    ck_assert_msg(r.status == 200 || r.status == 404, "GET %s: %ld %s%s", url, r.status, r.body,
                  r.error);
    json_t *order = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    ck_assert_msg(r.status == 404 || order, "GET %s: not JSON: %s", url, r.body);
    ts_http_reply_free(&r);
    return order;
}

static int is_final(const json_t *order)
{
    const char *status = json_string_value(json_object_get(order, "status"));
    return status && (strcmp(status, "confirmed") == 0 || strcmp(status, "rejected") == 0 ||
                      strcmp(status, "payment_failed") == 0);
}

json_t *sg_wait_final(const struct sg_fleet *f, const char *order_id, int timeout_ms)
{
    json_t *order = sg_get(f, order_id);
    for (int waited = 0; !is_final(order) && waited < timeout_ms; waited += 100) {
        ts_sleep_ms(100);
        json_decref(order);
        order = sg_get(f, order_id);
    }
    ck_assert_msg(is_final(order), "order %s: no final status within %d ms (status %s)", order_id,
                  timeout_ms, json_string_value(json_object_get(order, "status")));
    return order;
}

void sg_assert_history(const json_t *order, const char *statuses)
{
    char list[128], *save = NULL;
    const json_t *history = json_object_get(order, "history");
    size_t i = 0;
    snprintf(list, sizeof list, "%s", statuses);
    for (char *s = strtok_r(list, " ", &save); s; s = strtok_r(NULL, " ", &save), i++) {
        const json_t *entry = json_array_get(history, i);
        ck_assert_msg(entry != NULL, "history stops before %s", s);
        ck_assert_str_eq(json_string_value(json_object_get(entry, "status")), s);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(entry, "at")));
    }
    ck_assert_uint_eq(json_array_size(history), i);
}

const char *sg_email(const char *prefix, char *out, size_t size)
{
    char name[96];
    snprintf(out, size, "%s@example.com", ts_unique_name(prefix, name, sizeof name));
    return out;
}
