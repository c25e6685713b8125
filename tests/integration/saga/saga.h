/* The end-to-end saga tests' own helpers, on top of tests/support/: a fleet
 * (warren-api and the workers of every saga service on one broker world),
 * a storefront that posts orders and reads them back over HTTP, and the
 * figures the tests check. Every function asserts unless it says otherwise. */
#ifndef WARREN_TESTS_INTEGRATION_SAGA_H
#define WARREN_TESTS_INTEGRATION_SAGA_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "core/db.h"
#include "tests/support/programs.h"
#include "tests/support/world.h"

#define SG_MAX_WORKERS 8

struct sg_fleet {
    struct ts_world world;
    struct ts_api api;
    const char *service[SG_MAX_WORKERS]; /* of each running worker */
    pid_t pid[SG_MAX_WORKERS];           /* 0: stopped or died */
    char payment_stub[128];              /* the stack's stub gateways */
    char sms_stub[128];
    struct db_conn *orders;    /* the order service's database */
    struct db_conn *inventory; /* the inventory service's database */
    time_t started_at;         /* mail older than this is not ours */
};

/* Creates the world, points the workers at the stack's stub gateways,
 * starts one worker per saga service (two for inventory) and the API, and
 * waits until every queue has its consumers and the API is ready. */
void sg_fleet_start(struct sg_fleet *f);

/* Points the workers (WARREN_PAYMENT_GATEWAY_URL, WARREN_SMS_GATEWAY_URL)
 * at the stack's stub gateways (scripts/stack start) and checks they answer. */
void sg_use_stack_stubs(struct sg_fleet *f);

/* Stops the API and every worker (SIGTERM), removes the world; returns 0
 * when every process exited 0 (no sanitizer report), else the first other
 * exit status. */
int sg_fleet_stop(struct sg_fleet *f);

/* Stops the workers of service and starts one with WARREN_CRASH_AT
 * crash_at; returns its pid (not in the fleet: it is expected to die). */
pid_t sg_fleet_doom(struct sg_fleet *f, const char *service, const char *crash_at);

/* Starts one more (clean) worker of service in the fleet and waits until
 * its queue has a consumer. */
void sg_fleet_add(struct sg_fleet *f, const char *service);

/* "<world prefix>-<tag>": a SKU no other test uses. Written into out. */
const char *sg_sku(const struct sg_fleet *f, const char *tag, char *out, size_t size);

/* Imports catalog rows "TAG,name,price,currency,stock" (NULL-terminated),
 * each TAG turned into sg_sku(TAG), with the warrenctl binary. */
void sg_import(const struct sg_fleet *f, const char *const *rows);

/* The stock of sg_sku(tag) in the inventory database. */
long sg_stock(const struct sg_fleet *f, const char *tag);

/* Polls sg_stock until it is want or timeout_ms passes; returns the last value. */
long sg_wait_stock(const struct sg_fleet *f, const char *tag, long want, int timeout_ms);

/* The customers' phone number. */
#define SG_PHONE "+4915112345678"

/* An order body (SPEC.md) for customer email (phone SG_PHONE) with the
 * items of spec ("TAG:QTY TAG:QTY": sg_sku(TAG) each), in EUR, paid with
 * token, notify "email" or "email sms". The caller frees it (json_decref). */
json_t *sg_order(const struct sg_fleet *f, const char *email, const char *spec, const char *token,
                 const char *notify);

/* POSTs order with the storefront key; returns the HTTP status (0: no
 * answer) and writes the order id ("" unless 202) and the answer's body or
 * the transport error into detail. Never asserts: safe in threads. */
long sg_try_post(const struct sg_fleet *f, const json_t *order, char order_id[37], char *detail,
                 size_t detail_size);

/* sg_try_post, asserting 202. */
void sg_post(const struct sg_fleet *f, const json_t *order, char order_id[37]);

/* GET /v1/orders/{id} as JSON, or NULL while it answers 404 (the order
 * service has not recorded it yet). The caller frees it. */
json_t *sg_get(const struct sg_fleet *f, const char *order_id);

/* Polls sg_get until the order has a final status (confirmed, rejected,
 * payment_failed) and returns it; asserts one came within timeout_ms. */
json_t *sg_wait_final(const struct sg_fleet *f, const char *order_id, int timeout_ms);

/* Asserts order's history is exactly the statuses of `statuses` (separated
 * by spaces, e.g. "accepted reserved confirmed"), in order, each with a time. */
void sg_assert_history(const json_t *order, const char *statuses);

/* A unique customer address "<prefix>-<pid>-<n>@example.com". */
const char *sg_email(const char *prefix, char *out, size_t size);

#endif
