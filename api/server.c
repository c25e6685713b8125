/* The HTTP side of warren-api on libmicrohttpd: a small pool of event-loop
 * threads; a request whose order waits for the broker's confirm is
 * suspended (its thread serves others) and resumed by the publishing
 * thread. Bodies are collected up to the limit; one JSON access-log line
 * per request. */
#include "api/api.h"

#include "core/clock.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/text.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct api_server {
    struct MHD_Daemon *daemon;
    struct api_context *ctx;
    size_t max_body;
};

/* Per-request state kept by MHD between calls (con_cls). */
struct request_state {
    struct MHD_Connection *connection;
    bool handled;      /* api_handle has run; a later call finishes a pending answer */
    atomic_bool woken; /* resume_request ran: no other thread touches res.pending */
    struct timespec started;
    char *body;
    size_t body_len;
    bool too_large;
    bool answered;
    struct api_response res;
    char method[16];
    char path[256];
};

void api_response_header(struct api_response *res, const char *name, const char *value)
{
    if (res->header_count >= API_MAX_HEADERS)
        return;
    res->headers[res->header_count].name = name;
    wr_copy_text(res->headers[res->header_count].value, sizeof res->headers[0].value, value);
    res->header_count++;
}

void api_response_error(struct api_response *res, int status, const char *code,
                        const char *message, const char *field)
{
    json_t *error = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (field && *field)
        json_object_set_new(error, "field", json_string(field));
    json_t *root = json_pack("{s:o}", "error", error);
    free(res->body);
    res->body = json_dumps(root, JSON_COMPACT);
    res->status = status;
    json_decref(root);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* {"ts","level":"info","component":"access","msg":"POST /v1/orders 202",
 *  "method","path","status","duration_us","caller","trace_id"}: no bodies,
 * no headers, no secrets. Buffered by core/log (api/main.c). */
static void access_log(const struct request_state *state, double seconds)
{
    /* "METHOD PATH STATUS" (which fits whole), without printf: every
     * request writes one */
    char msg[300];
    size_t len = 0;
    wr_append_text(msg, sizeof msg, &len, state->method);
    wr_append_text(msg, sizeof msg, &len, " ");
    wr_append_text(msg, sizeof msg, &len, state->path);
    wr_append_text(msg, sizeof msg, &len, " ");
    wr_decimal_append(msg, sizeof msg, &len, state->res.status);
    struct wr_log_field fields[6] = {
        {.key = "method", .text = state->method},
        {.key = "path", .text = state->path},
        {.key = "status", .number = state->res.status},
        {.key = "duration_us", .number = (long long)(seconds * 1e6)},
    };
    size_t count = 4;
    if (state->res.caller[0])
        fields[count++] = (struct wr_log_field){.key = "caller", .text = state->res.caller};
    if (state->res.trace_id[0])
        fields[count++] = (struct wr_log_field){.key = "trace_id", .text = state->res.trace_id};
    wr_log_record("access", msg, fields, count);
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode code)
{
    struct api_server *server = cls;
    struct request_state *state = *con_cls;
    (void)connection;
    (void)code;
    if (!state)
        return;
    if (state->res.pending && !atomic_load(&state->woken)) {
        /* never resumed, so its publish may still be in flight: the state
         * must outlive it (a rare leak beats a use after free) */
        wr_log(WR_LOG_WARN, "api", "a request ended while its publish was pending");
        *con_cls = NULL;
        return;
    }
    if (state->res.pending) /* resumed, but the client had gone: never answered */
        api_finish(server->ctx, &state->res);
    double seconds = seconds_since(&state->started);
    if (state->answered) {
        api_metrics_request_done(server->ctx->metrics, state->res.route, state->res.status,
                                 seconds);
        access_log(state, seconds);
    } else {
        api_metrics_request_done(server->ctx->metrics, API_ROUTE_OTHER, 0, seconds);
    }
    free(state->res.body);
    free(state->body);
    free(state);
    *con_cls = NULL;
}

static struct request_state *begin_request(struct api_server *server,
                                           struct MHD_Connection *connection, const char *method,
                                           const char *url)
{
    struct request_state *state = calloc(1, sizeof *state);
    if (!state)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &state->started);
    wr_copy_text(state->method, sizeof state->method, method);
    wr_copy_text(state->path, sizeof state->path, url);
    const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > server->max_body)
        state->too_large = true;
    api_metrics_request_started(server->ctx->metrics);
    return state;
}

/* Keeps up to max_body bytes; beyond that only notes that it was too large. */
static bool append_body(struct api_server *server, struct request_state *state, const char *data,
                        size_t size)
{
    if (state->too_large || state->body_len + size > server->max_body) {
        state->too_large = true;
        return true;
    }
    char *grown = realloc(state->body, state->body_len + size);
    if (!grown)
        return false;
    memcpy(grown + state->body_len, data, size);
    state->body = grown;
    state->body_len += size;
    return true;
}

static enum MHD_Result send_response(struct MHD_Connection *connection,
                                     struct request_state *state)
{
    struct api_response *res = &state->res;
    const char *body = res->body ? res->body : "";
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            res->content_type ? res->content_type : "application/json");
    for (int i = 0; i < res->header_count; i++)
        MHD_add_response_header(response, res->headers[i].name, res->headers[i].value);
    enum MHD_Result result = MHD_queue_response(connection, (unsigned)res->status, response);
    MHD_destroy_response(response);
    state->answered = true;
    return result;
}

/* From the publishing (or Idempotency-Key) thread: the request's outcome
 * is known. A client that closed its connection while the request was
 * suspended is noticed only now: MHD then ends the request without calling
 * access_handler again, and request_completed finishes it (woken). */
static void resume_request(void *token)
{
    struct request_state *state = token;
    struct MHD_Connection *connection = state->connection;
    atomic_store(&state->woken, true);
    MHD_resume_connection(connection); /* until then MHD cannot end the request */
}

static const char *header(struct MHD_Connection *connection, const char *name)
{
    return MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
}

/* Keeps one query-string argument of the request (MHD_GET_ARGUMENT_KIND). */
static enum MHD_Result keep_query_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    struct api_request *req = cls;
    (void)kind;
    if (req->query_count == API_MAX_QUERY) {
        req->query_too_long = true;
        return MHD_NO;
    }
    req->query[req->query_count].name = key;
    req->query[req->query_count++].value = value ? value : "";
    return MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection,
                                      const char *url, const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct api_server *server = cls;
    struct request_state *state = *con_cls;
    (void)version;
    if (!state) {
        *con_cls = state = begin_request(server, connection, method, url);
        if (state)
            state->connection = connection;
        return state ? MHD_YES : MHD_NO;
    }
    if (state->handled) { /* resumed: the broker has answered */
        api_finish(server->ctx, &state->res);
        return send_response(connection, state);
    }
    if (*upload_data_size > 0) {
        bool kept = append_body(server, state, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return kept ? MHD_YES : MHD_NO;
    }
    struct api_request req = {
        .method = method,
        .path = url,
        .authorization = header(connection, MHD_HTTP_HEADER_AUTHORIZATION),
        .content_type = header(connection, MHD_HTTP_HEADER_CONTENT_TYPE),
        .idempotency_key = header(connection, "Idempotency-Key"),
        .traceparent = header(connection, "traceparent"),
        .body = state->body,
        .body_len = state->body_len,
        .body_too_large = state->too_large,
    };
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, keep_query_argument, &req);
    api_handle(server->ctx, &req, &state->res);
    state->handled = true;
    if (state->res.pending) {
        MHD_suspend_connection(connection); /* before the publish can complete */
        api_pending_start(server->ctx, &state->res, resume_request, state);
        return MHD_YES;
    }
    return send_response(connection, state);
}

static int bind_address(const struct api_server_options *options, struct sockaddr_in *addr,
                        struct wr_error *err)
{
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)options->port);
    if (inet_pton(AF_INET, options->address, &addr->sin_addr) == 1)
        return 0;
    wr_error_set(err, WR_ERR_CONFIG, "api.address: %s is not an IPv4 address", options->address);
    return -1;
}

struct api_server *api_server_start(struct api_context *ctx,
                                    const struct api_server_options *options,
                                    struct wr_error *err)
{
    struct sockaddr_in addr;
    if (bind_address(options, &addr, err) != 0)
        return NULL;
    struct api_server *server = calloc(1, sizeof *server);
    if (!server) {
        wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    server->ctx = ctx;
    server->max_body = ctx->limits.max_body;
    /* poll(), not epoll: every order is suspended while its publish awaits
     * the broker's confirm, and with epoll libmicrohttpd takes the socket
     * out of and back into the epoll set for that (two epoll_ctl calls per
     * request). A pool thread serves api.max_connections / api.threads
     * connections at most (64 by default), which one poll() covers
     * cheaply: about 6 instead of 9 system calls per order
     * (bench/README.md, fifth pass). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME;
    if (options->tls_cert_pem)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)options->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)options->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)options->port, NULL, NULL, access_handler, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, options->max_connections,
        MHD_OPTION_THREAD_POOL_SIZE, options->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
        MHD_OPTION_ARRAY, options->tls_cert_pem ? tls : none,
        MHD_OPTION_END);
    if (!server->daemon) {
        wr_error_set(err, WR_ERR_IO, "cannot listen on %s:%d (in use, or bad TLS files?)",
                     options->address, options->port);
        free(server);
        return NULL;
    }
    return server;
}

void api_server_quiesce(struct api_server *server)
{
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void api_server_stop(struct api_server *server)
{
    if (!server)
        return;
    MHD_stop_daemon(server->daemon);
    free(server);
}
