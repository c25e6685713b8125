/* The routes of warren-api and their handlers: POST /v1/orders (validate,
 * Idempotency-Key, confirmed publish of order.placed), health, readiness
 * and metrics. Every refusal is a JSON error; nothing a client sends can
 * produce a 500. */
#include "api/api.h"

#include <ctype.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uuid/uuid.h>

#include "api/idem_queue.h"
#include "core/clock.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/random.h"
#include "core/text.h"

typedef void (*route_fn)(struct api_context *ctx, const struct api_request *req,
                         struct api_response *res);

/* One route: an exact path, or one with an "{id}" segment. */
struct route {
    const char *method;
    const char *path;
    enum api_route metric;
    route_fn handle;
};

static bool all_hex(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)text[i]) || isupper((unsigned char)text[i]))
            return false;
    return true;
}

/* Keeps a valid W3C traceparent (version 00) or makes a new one. */
static void trace_context(const char *given, char out[56], char trace_id[33])
{
    if (given && strlen(given) == 55 && strncmp(given, "00-", 3) == 0 && given[35] == '-' &&
        given[52] == '-' && all_hex(given + 3, 32) && all_hex(given + 36, 16) &&
        all_hex(given + 53, 2) && strspn(given + 3, "0") < 32 && strspn(given + 36, "0") < 16) {
        memcpy(out, given, 56);
    } else {
        unsigned char random[24];
        wr_random_bytes(random, sizeof random);
        random[0] |= 1; /* never all zeros */
        random[16] |= 1;
        memcpy(out, "00-", 3);
        wr_hex_lower(out + 3, random, 16);
        out[35] = '-';
        wr_hex_lower(out + 36, random + 16, 8);
        memcpy(out + 52, "-01", 4);
    }
    memcpy(trace_id, out + 3, 32);
    trace_id[32] = '\0';
}

bool api_authenticate(struct api_context *ctx, const struct api_request *req,
                      enum cfg_api_key_kind needed, struct api_response *res,
                      struct api_caller *caller)
{
    const char *auth = req->authorization;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        api_response_error(res, 401, "unauthorized", "send Authorization: Bearer <key>",
                           "Authorization");
        api_response_header(res, "WWW-Authenticate", "Bearer");
        return false;
    }
    if (!api_keyring_find(ctx->keys, auth + 7, caller)) {
        api_response_error(res, 401, "unauthorized", "unknown key", "Authorization");
        api_response_header(res, "WWW-Authenticate", "Bearer");
        return false;
    }
    wr_copy_text(res->caller, sizeof res->caller, caller->name);
    if (caller->kind != needed) {
        api_response_error(res, 403, "forbidden",
                           needed == CFG_KEY_ADMIN ? "this route needs an admin key"
                                                   : "this route needs a storefront key",
                           NULL);
        return false;
    }
    int retry_after = 1;
    if (!api_keyring_take(ctx->keys, caller, mq_now_ms(), &retry_after)) {
        char value[16];
        snprintf(value, sizeof value, "%d", retry_after);
        api_response_error(res, 429, "rate_limited", "too many requests for this key", NULL);
        api_response_header(res, "Retry-After", value);
        return false;
    }
    return true;
}

/* application/json, optionally with charset=utf-8 (any case). */
static bool is_json_content_type(const char *value)
{
    if (!value)
        return false;
    while (*value == ' ')
        value++;
    if (strncasecmp(value, "application/json", 16) != 0)
        return false;
    const char *rest = value + 16;
    rest += strspn(rest, " ");
    if (!*rest)
        return true;
    if (*rest != ';')
        return false;
    rest++;
    rest += strspn(rest, " ");
    return strncasecmp(rest, "charset=utf-8", 13) == 0 && rest[13 + strspn(rest + 13, " ")] == 0;
}

static bool valid_idempotency_key(const char *key)
{
    size_t len = strlen(key);
    if (len < 1 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            return false;
    return true;
}

/* Checks everything about a POST before its body is parsed. */
static bool precheck_order_post(const struct api_request *req, struct api_response *res)
{
    if (req->body_too_large) {
        api_response_error(res, 413, "body_too_large", "the body is larger than allowed", NULL);
        return false;
    }
    if (!is_json_content_type(req->content_type)) {
        api_response_error(res, 415, "unsupported_media_type",
                           "send Content-Type: application/json", "Content-Type");
        return false;
    }
    if (req->idempotency_key && !valid_idempotency_key(req->idempotency_key)) {
        api_response_error(res, 400, "invalid_header",
                           "Idempotency-Key must be 1-255 printable ASCII characters",
                           "Idempotency-Key");
        return false;
    }
    return true;
}

/* The 202 body of an accepted order (malloc'd; NULL when out of memory)
 * and its Location, written by hand: every order pays for it. The order
 * id is a UUID (ours or the Idempotency-Key store's), escaped all the same. */
static char *accepted_body(const char *order_id, char location[80])
{
    size_t location_len = 0;
    wr_append_text(location, 80, &location_len, "/v1/orders/");
    wr_json_escape_append(location, 80, &location_len, order_id);
    const char *id = location + strlen("/v1/orders/");
    size_t size = 2 * location_len + 64;
    char *text = malloc(size);
    if (!text)
        return NULL;
    size_t len = 0;
    const char *parts[] = {"{\"order_id\":\"", id, "\",\"status\":\"accepted\",\"status_url\":\"",
                           location, "\"}"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        wr_append_text(text, size, &len, parts[i]);
    return text;
}

static void accepted_response(struct api_response *res, const char *order_id)
{
    char location[80];
    free(res->body);
    res->body = accepted_body(order_id, location);
    res->status = 202;
    api_response_header(res, "Location", location);
}

/* An order on its way, kept with everything its message borrows until the
 * request is finished. A keyed order goes through three hand-offs while
 * its request stays suspended: its claim (the Idempotency-Key thread),
 * then the publish of order.placed (the publisher thread), then the key's
 * answer or release (the Idempotency-Key thread again), whose end wakes
 * the request; an order without a key only through the publish. Each step
 * passes it on through a queue, so one thread at a time touches it. */
struct api_pending {
    struct api_intake_job job; /* first: the intake's callback gets its address */
    struct api_idem_job idem;  /* keyed: the claim, then the answer or the release */
    struct api_context *ctx;
    void (*wake)(void *token);
    void *token;
    char *order_text; /* the validated order as sent, until order.placed is built */
    size_t order_text_len;
    bool notify_given; /* the order has notify (else order.placed adds the default) */
    char *body;        /* order.placed */
    char *answer;      /* keyed: the 202 body recorded as the key's answer */
    char order_id[40];
    char proposed_id[37];  /* keyed: the order id if the key is new */
    char request_hash[65]; /* keyed: of the canonical JSON value */
    char placed_at[WR_RFC3339_SIZE];
    char message_id[37];
    char traceparent[56];
    char storefront[64];
    char *idempotency_key; /* NULL without one */
    struct mq_header headers[MQ_ENVELOPE_HEADERS];
    struct mq_message msg;
    wr_status store;           /* keyed: the claim's outcome (WR_OK: claim says what) */
    enum api_idem_claim claim; /* keyed */
    bool published;            /* the broker was tried: result and detail say how it went */
    wr_status result;
    struct wr_error detail;
};

static void pending_free(struct api_pending *p)
{
    free(p->order_text);
    free(p->body);
    free(p->answer);
    free(p->idempotency_key);
    free(p);
}

static struct api_pending *pending_of_idem(struct api_idem_job *job)
{
    return (struct api_pending *)((char *)job - offsetof(struct api_pending, idem));
}

/* The message of order.placed, borrowing p's strings. */
static void build_placed_message(struct api_context *ctx, struct api_pending *p)
{
    wr_random_uuid(p->message_id);
    p->msg = (struct mq_message){
        .exchange = ctx->exchange,
        .type = "order.placed",
        .body = p->body,
        .body_len = strlen(p->body),
        .message_id = p->message_id,
        .correlation_id = p->order_id,
    };
    mq_envelope(&p->msg, p->headers, p->traceparent, p->storefront);
    p->job.msg = &p->msg;
}

/* From the Idempotency-Key thread: the key's answer is recorded (or its
 * claim given up); the request can be answered. */
static void key_settled(struct api_idem_job *job, wr_status status, const struct wr_error *detail)
{
    struct api_pending *p = pending_of_idem(job);
    if (status != WR_OK)
        wr_log(WR_LOG_WARN, "api", "order %s: recording its Idempotency-Key failed: %s",
               p->order_id, detail->message);
    p->wake(p->token);
}

/* The publish's outcome is known: a keyed order records its answer (or
 * gives its claim up, so a retry takes the key over at once with the same
 * order id) before its request is woken. */
static void publish_finished(struct api_pending *p, wr_status result, const struct wr_error *detail)
{
    p->result = result;
    p->detail = *detail;
    if (!p->idempotency_key) {
        p->wake(p->token);
        return;
    }
    p->idem.op = result == WR_OK ? API_IDEM_OP_COMPLETE : API_IDEM_OP_RELEASE;
    p->idem.response_status = 202;
    p->idem.response_body = p->answer;
    p->idem.done = key_settled;
    api_idem_queue_submit(p->ctx->idem, &p->idem);
}

/* From the publishing thread. */
static void placed_done(struct api_intake_job *job, wr_status result,
                        const struct wr_error *detail)
{
    struct api_pending *p = (struct api_pending *)job;
    p->published = true;
    publish_finished(p, result, detail);
}

/* Builds order.placed for p->order_id and hands it to the publisher. */
static void publish(struct api_pending *p)
{
    struct api_placed_fields added = {
        .order_id = p->order_id,
        .storefront = p->storefront,
        .idempotency_key = p->idempotency_key,
        .placed_at = p->placed_at,
        .notify_given = p->notify_given,
    };
    p->body = api_order_placed_body(p->order_text, p->order_text_len, &added);
    free(p->order_text);
    p->order_text = NULL;
    char location[80];
    if (p->idempotency_key)
        p->answer = accepted_body(p->order_id, location);
    if (!p->body || (p->idempotency_key && !p->answer)) {
        struct wr_error err;
        wr_error_set(&err, WR_ERR_NOMEM, "out of memory");
        publish_finished(p, WR_ERR_NOMEM, &err);
        return;
    }
    build_placed_message(p->ctx, p);
    api_intake_submit(p->ctx->intake, &p->job);
}

/* From the Idempotency-Key thread: the claim's outcome. A key this request
 * now owns goes on to the broker; any other outcome is the answer. */
static void key_claimed(struct api_idem_job *job, wr_status status, const struct wr_error *detail)
{
    struct api_pending *p = pending_of_idem(job);
    p->store = status;
    if (status != WR_OK) {
        wr_log(WR_LOG_WARN, "api", "idempotency store: %s", detail->message);
        p->wake(p->token);
        return;
    }
    p->claim = job->result.claim;
    wr_copy_text(p->order_id, sizeof p->order_id, job->result.order_id);
    free(job->result.response_body); /* a replay answers from the order id */
    job->result.response_body = NULL;
    if (p->claim == API_IDEM_NEW)
        publish(p);
    else
        p->wake(p->token);
}

void api_pending_start(struct api_context *ctx, struct api_response *res, void (*wake)(void *),
                       void *token)
{
    struct api_pending *p = res->pending;
    p->ctx = ctx;
    p->wake = wake;
    p->token = token;
    p->job.done = placed_done;
    if (!p->idempotency_key) {
        publish(p);
        return;
    }
    p->idem = (struct api_idem_job){
        .op = API_IDEM_OP_CLAIM,
        .storefront = p->storefront,
        .key = p->idempotency_key,
        .request_hash = p->request_hash,
        .proposed_order_id = p->proposed_id,
        .lease_seconds = ctx->idempotency_lease_s,
        .done = key_claimed,
    };
    api_idem_queue_submit(ctx->idem, &p->idem);
}

void api_response_unavailable(struct api_response *res, const char *what)
{
    api_response_error(res, 503, "unavailable", what, NULL);
    api_response_header(res, "Retry-After", "1");
}

/* The answer of a key that was not this request's to publish. */
static void answer_claimed_key(struct api_response *res, const struct api_pending *p)
{
    switch (p->claim) {
    case API_IDEM_NEW: /* published: not answered here */
        break;
    case API_IDEM_DONE:
        accepted_response(res, p->order_id);
        break;
    case API_IDEM_IN_FLIGHT:
        api_response_error(res, 409, "request_in_progress",
                           "a request with this Idempotency-Key is still being processed",
                           "Idempotency-Key");
        break;
    case API_IDEM_MISMATCH:
        api_response_error(res, 422, "idempotency_key_reused",
                           "this Idempotency-Key was used with a different body",
                           "Idempotency-Key");
        break;
    }
}

void api_finish(struct api_context *ctx, struct api_response *res)
{
    struct api_pending *p = res->pending;
    res->pending = NULL;
    if (p->idempotency_key && p->store != WR_OK) {
        api_response_unavailable(res, "the idempotency store is unavailable");
    } else if (p->idempotency_key && p->claim != API_IDEM_NEW) {
        answer_claimed_key(res, p);
    } else if (p->result == WR_OK) {
        api_metrics_published(ctx->metrics, API_PUBLISH_CONFIRMED);
        accepted_response(res, p->order_id);
    } else {
        if (p->published)
            api_metrics_published(ctx->metrics, p->result == WR_ERR_NACK ? API_PUBLISH_NACKED
                                                                         : API_PUBLISH_FAILED);
        wr_log(WR_LOG_WARN, "api", "order %s not accepted: %s: %s", p->order_id,
               wr_status_str(p->result), p->detail.message);
        api_response_unavailable(res, "the order could not be handed to the broker; retry");
    }
    pending_free(p);
}

/* A pending order for a validated order: the order id (or, with an
 * Idempotency-Key, the proposed one and the hash of the canonical value);
 * NULL when out of memory. */
static struct api_pending *new_pending(const struct api_request *req, const char *storefront,
                                       json_t *order, const char *traceparent)
{
    struct api_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (req->idempotency_key) {
        char *canonical = json_dumps(order, JSON_COMPACT | JSON_SORT_KEYS);
        p->idempotency_key = strdup(req->idempotency_key);
        if (!canonical || !p->idempotency_key) {
            free(canonical);
            pending_free(p);
            return NULL;
        }
        api_sha256_hex(canonical, strlen(canonical), p->request_hash);
        free(canonical);
        wr_random_uuid(p->proposed_id);
    } else {
        wr_random_uuid(p->order_id);
    }
    p->order_text = malloc(req->body_len);
    if (!p->order_text) {
        pending_free(p);
        return NULL;
    }
    memcpy(p->order_text, req->body, req->body_len);
    p->order_text_len = req->body_len;
    p->notify_given = json_object_get(order, "notify") != NULL;
    wr_rfc3339_now(p->placed_at);
    wr_copy_text(p->traceparent, sizeof p->traceparent, traceparent);
    wr_copy_text(p->storefront, sizeof p->storefront, storefront);
    return p;
}

/* Validates the order; the server then suspends the request and calls
 * api_pending_start (claim, publish, record), and answers in api_finish. */
static void orders_post(struct api_context *ctx, const struct api_request *req,
                        struct api_response *res)
{
    struct api_caller caller;
    struct api_order_error invalid;
    json_t *order = NULL;
    char traceparent[56];
    trace_context(req->traceparent, traceparent, res->trace_id);
    api_response_header(res, "traceparent", traceparent);
    if (!api_authenticate(ctx, req, CFG_KEY_STOREFRONT, res, &caller) ||
        !precheck_order_post(req, res))
        return;
    if (api_order_parse(req->body ? req->body : "", req->body_len, &ctx->limits, &order,
                        &invalid) != WR_OK) {
        api_response_error(res, 400, invalid.code, invalid.message, invalid.field);
        return;
    }
    res->pending = new_pending(req, caller.name, order, traceparent);
    if (!res->pending)
        api_response_unavailable(res, "out of memory; retry");
    json_decref(order);
}

/* The order as SPEC.md shows it, built by PostgreSQL from the order
 * service's tables; before pricing, lines are the requested items. */
static const char order_view_sql[] =
    "SELECT o.storefront, json_build_object("
    " 'order_id', o.order_id, 'status', o.status, 'currency', o.currency,"
    " 'lines', coalesce(o.lines, (SELECT json_agg(json_build_object('sku', i->'sku',"
    "   'quantity', i->'quantity')) FROM jsonb_array_elements(o.items) i)::jsonb),"
    " 'total', o.total, 'reason', o.reason,"
    " 'history', (SELECT json_agg(json_build_object('status', h.status, 'at',"
    "   to_char(h.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) ORDER BY h.at)"
    "   FROM order_history h WHERE h.order_id = o.order_id),"
    " 'created_at', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    " 'updated_at', to_char(o.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    ")::text FROM orders o WHERE o.order_id = $1::uuid";

static bool is_uuid(const char *text)
{
    uuid_t parsed;
    return strlen(text) == 36 && uuid_parse(text, parsed) == 0;
}

static void orders_get(struct api_context *ctx, const struct api_request *req,
                       struct api_response *res)
{
    struct api_caller caller;
    struct wr_error err;
    struct db_result *rows = NULL;
    const char *order_id = req->path + strlen("/v1/orders/");
    if (!api_authenticate(ctx, req, CFG_KEY_STOREFRONT, res, &caller))
        return;
    if (!is_uuid(order_id)) {
        api_response_error(res, 404, "not_found", "no such order", NULL);
        return;
    }
    struct db_conn *db = db_pool_acquire(ctx->orders_db, &err);
    const char *params[] = {order_id};
    wr_status status = db ? db_exec(db, order_view_sql, 1, params, &rows, &err) : err.code;
    if (db)
        db_pool_release(ctx->orders_db, db);
    if (status != WR_OK) {
        wr_log(WR_LOG_WARN, "api", "order database: %s", err.message);
        api_response_unavailable(res, "the order database is unavailable");
    } else if (db_result_rows(rows) == 0 || strcmp(db_result_value(rows, 0, 0), caller.name) != 0) {
        api_response_error(res, 404, "not_found", "no such order", NULL); /* or not yours */
    } else {
        json_t *order = json_loads(db_result_value(rows, 0, 1), 0, NULL);
        res->status = 200;
        res->body = json_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(order);
    }
    db_result_free(rows);
}

static void healthz(struct api_context *ctx, const struct api_request *req,
                    struct api_response *res)
{
    (void)ctx;
    (void)req;
    res->status = 200;
    res->body = strdup("{\"status\":\"ok\"}");
}

static void readyz(struct api_context *ctx, const struct api_request *req,
                   struct api_response *res)
{
    struct wr_error err;
    struct db_result *rows = NULL;
    (void)req;
    bool broker = api_intake_connected(ctx->intake);
    struct db_conn *db = db_pool_acquire(ctx->db, &err);
    bool database = db && db_exec(db, "SELECT 1", 0, NULL, &rows, &err) == WR_OK;
    db_result_free(rows);
    if (db)
        db_pool_release(ctx->db, db);
    json_t *body = json_pack("{s:s, s:b, s:b}", "status", broker && database ? "ready" : "unready",
                             "broker", broker, "database", database);
    res->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    res->status = broker && database ? 200 : 503;
}

static void metrics(struct api_context *ctx, const struct api_request *req,
                    struct api_response *res)
{
    (void)req;
    res->status = 200;
    res->body = api_metrics_render(ctx->metrics);
    res->content_type = "text/plain; version=0.0.4";
}

static const struct route routes[] = {
    {"POST", "/v1/orders", API_ROUTE_ORDERS_POST, orders_post},
    {"GET", "/v1/orders/{id}", API_ROUTE_ORDERS_GET, orders_get},
    {"GET", "/healthz", API_ROUTE_HEALTHZ, healthz},
    {"GET", "/readyz", API_ROUTE_READYZ, readyz},
    {"GET", "/metrics", API_ROUTE_METRICS, metrics},
    {"GET", "/v1/admin/queues", API_ROUTE_ADMIN, api_admin_queues},
    {"GET", "/v1/admin/dead-letters", API_ROUTE_ADMIN, api_admin_dead_letters},
    {"GET", "/v1/admin/dead-letters/groups", API_ROUTE_ADMIN, api_admin_dead_letter_groups},
    {"GET", "/v1/admin/dead-letters/stats", API_ROUTE_ADMIN, api_admin_dead_letter_stats},
    {"POST", "/v1/admin/dead-letters/replay", API_ROUTE_ADMIN, api_admin_replay},
    {"GET", "/v1/admin/dead-letters/{id}", API_ROUTE_ADMIN, api_admin_dead_letter},
    {"POST", "/v1/admin/dead-letters/{id}/replay", API_ROUTE_ADMIN, api_admin_replay_one},
    {"POST", "/v1/admin/dead-letters/{id}/discard", API_ROUTE_ADMIN, api_admin_discard_one},
};

/* An exact path, or one with an "{id}" segment that path fills (not with
 * "/" or nothing). */
static bool path_matches(const struct route *route, const char *path)
{
    const char *hole = strstr(route->path, "{id}");
    if (!hole)
        return strcmp(path, route->path) == 0;
    size_t head = (size_t)(hole - route->path), tail = strlen(hole + 4), len = strlen(path);
    if (len <= head + tail || strncmp(path, route->path, head) != 0 ||
        strcmp(path + len - tail, hole + 4) != 0)
        return false;
    const char *slash = memchr(path + head, '/', len - head - tail);
    return slash == NULL;
}

void api_handle(struct api_context *ctx, const struct api_request *req, struct api_response *res)
{
    char allow[64] = "";
    res->route = API_ROUTE_OTHER;
    /* Exact paths first ("/v1/admin/dead-letters/groups" is not an id). */
    for (int exact = 1; exact >= 0 && !*allow; exact--) {
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
            bool is_exact = strstr(routes[i].path, "{id}") == NULL;
            if (is_exact != (exact == 1) || !path_matches(&routes[i], req->path))
                continue;
            if (strcmp(routes[i].method, req->method) == 0) {
                res->route = routes[i].metric;
                routes[i].handle(ctx, req, res);
                return;
            }
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     *allow ? ", " : "", routes[i].method);
        }
    }
    if (*allow) {
        api_response_error(res, 405, "method_not_allowed", "this route does not take that method",
                           NULL);
        api_response_header(res, "Allow", allow);
    } else {
        api_response_error(res, 404, "not_found", "no such route", NULL);
    }
}
