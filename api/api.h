/* warren-api's shared context and its HTTP server.
 *
 * api/server.c speaks HTTP (libmicrohttpd: no MHD type leaves it), turns
 * each request into a struct api_request and routes it; api/routes.c has
 * the handlers, which fill a struct api_response. */
#ifndef WARREN_API_API_H
#define WARREN_API_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/intake.h"
#include "api/keyring.h"
#include "api/metrics.h"
#include "api/order.h"
#include "core/db.h"

struct api_idem_queue;

/* Everything a handler may use; built by main, shared by all threads. */
struct api_context {
    struct api_keyring *keys;
    struct api_intake *intake;
    struct db_pool *db;          /* the API's database (migrations, purge, readiness) */
    struct api_idem_queue *idem; /* the Idempotency-Key thread (claims and answers) */
    struct db_pool *orders_db;   /* the order service's database (GET /v1/orders/{id}) */
    struct api_metrics *metrics;
    struct api_order_limits limits;
    int idempotency_lease_s;     /* how long a claimed key waits for its holder */
    const char *exchange;        /* where order.placed goes (broker.exchange) */
    struct db_pool *deadletter_db; /* the deadletter service's store (admin routes) */
    const char *broker_url;        /* for replays (admin routes) */
    const char *topology_file;     /* for a replay's default settle */
    const char *control_socket;    /* warren-fleet's (GET /v1/admin/queues) */
    const char *management_url;    /* broker.management_url (GET /v1/admin/queues) */
    char vhost[256];               /* broker.url's virtual host */
    atomic_bool deadletter_migrated; /* the store's schema was brought up to date */
};

#define API_MAX_QUERY 16

/* A request as the handlers see it; all strings borrowed, NULL if absent. */
struct api_request {
    const char *method;
    const char *path;
    const char *authorization;
    const char *content_type;
    const char *idempotency_key;
    const char *traceparent;
    const char *body;      /* body_len bytes, not NUL-terminated */
    size_t body_len;
    bool body_too_large;   /* over limits.max_body: the body was not kept */
    struct {
        const char *name, *value; /* value "" for "?name" */
    } query[API_MAX_QUERY];       /* the query string's arguments, decoded */
    size_t query_count;
    bool query_too_long;          /* more than API_MAX_QUERY arguments */
};

#define API_MAX_HEADERS 4

/* What a handler answers. body is malloc'd (or NULL) and freed by the server. */
struct api_response {
    int status;
    char *body;
    const char *content_type; /* NULL = application/json */
    struct {
        const char *name;
        char value[160];
    } headers[API_MAX_HEADERS];
    int header_count;
    struct api_pending *pending; /* set by a handler that waits for the broker */
    enum api_route route;        /* for metrics */
    char caller[64];             /* for the access log: the key's name, if any */
    char trace_id[33];           /* for the access log */
};

/* Routes and answers one request (api/routes.c). When the answer waits
 * for the broker (or the Idempotency-Key store), res->pending is set
 * instead: the server then suspends the request and calls
 * api_pending_start(). */
void api_handle(struct api_context *ctx, const struct api_request *req, struct api_response *res);

/* A request waiting for its publish, and for a keyed one also for its
 * key's claim and answer (routes.c). */
struct api_pending;

/* Hands res->pending to the Idempotency-Key thread (keyed) or the broker.
 * wake(token) is called once, from the publishing or the Idempotency-Key
 * thread, when the answer is known; the server then calls api_finish()
 * from a request thread. */
void api_pending_start(struct api_context *ctx, struct api_response *res, void (*wake)(void *),
                       void *token);

/* Completes a response whose outcome is known (the key's answer is
 * already recorded): sets status and body, frees res->pending. */
void api_finish(struct api_context *ctx, struct api_response *res);

/* Checks the request's bearer key: true with *caller filled when it is a
 * known key of kind needed within its rate limit; otherwise sets the
 * error answer (401, 403 or 429) and returns false. (routes.c) */
bool api_authenticate(struct api_context *ctx, const struct api_request *req,
                      enum cfg_api_key_kind needed, struct api_response *res,
                      struct api_caller *caller);

/* The admin routes (api/admin.c): the queue report of `warrenctl status`,
 * and the dead-letter store: list, groups, stats, show, replay of one or a
 * selection, discard. */
void api_admin_queues(struct api_context *ctx, const struct api_request *req,
                      struct api_response *res);
void api_admin_dead_letters(struct api_context *ctx, const struct api_request *req,
                            struct api_response *res);
void api_admin_dead_letter_groups(struct api_context *ctx, const struct api_request *req,
                                  struct api_response *res);
void api_admin_dead_letter_stats(struct api_context *ctx, const struct api_request *req,
                                 struct api_response *res);
void api_admin_dead_letter(struct api_context *ctx, const struct api_request *req,
                           struct api_response *res);
void api_admin_replay_one(struct api_context *ctx, const struct api_request *req,
                          struct api_response *res);
void api_admin_replay(struct api_context *ctx, const struct api_request *req,
                      struct api_response *res);
void api_admin_discard_one(struct api_context *ctx, const struct api_request *req,
                           struct api_response *res);

/* 503 with Retry-After: 1, what saying what is unavailable. (routes.c) */
void api_response_unavailable(struct api_response *res, const char *what);

/* Adds a response header (silently ignored beyond API_MAX_HEADERS). */
void api_response_header(struct api_response *res, const char *name, const char *value);

/* Sets an error answer: {"error": {"code", "message", "field"?}}. */
void api_response_error(struct api_response *res, int status, const char *code,
                        const char *message, const char *field);

struct api_server;

struct api_server_options {
    const char *address; /* IPv4, e.g. "127.0.0.1" */
    int port;
    unsigned max_connections;
    unsigned threads;         /* event-loop threads (requests wait for the broker suspended) */
    const char *tls_cert_pem; /* NULL = plain HTTP */
    const char *tls_key_pem;
};

/* Starts listening; NULL with err set if the port cannot be bound. */
struct api_server *api_server_start(struct api_context *ctx,
                                    const struct api_server_options *options,
                                    struct wr_error *err);

/* Stops accepting new connections; requests already received finish. */
void api_server_quiesce(struct api_server *server);

/* Stops the server (closing remaining connections) and frees it. */
void api_server_stop(struct api_server *server);

#endif
