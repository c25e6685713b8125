/* bench_bare_front: the least an HTTP front end can do and still keep the
 * 202 promise, as a baseline for bench/intake. One thread runs
 * libmicrohttpd (external polling) and a broker/ confirming publisher: a
 * POST's body is checked to be JSON, published as order.placed with the
 * properties and headers warren-api gives it, and answered 202 after the
 * broker's confirm (503 if the broker refuses it). No validation, keys,
 * idempotency, metrics or logs. bench/intake runs it under the same wrk
 * load as warren-api, so the report shows what any libmicrohttpd front end
 * on broker/ reaches on that machine (bench/README.md, ninth look). */
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/random.h"

#define MAX_BODY (64 * 1024)

/* One request, from its first call until libmicrohttpd completes it. */
struct request {
    struct MHD_Connection *connection;
    char *body;
    size_t body_len;
    bool too_large;
    bool published; /* handed to the publisher: wait for the outcome */
    bool answered;  /* the outcome is known: status says what */
    unsigned status;
    char message_id[37];
    char order_id[37];
    struct mq_header headers[MQ_ENVELOPE_HEADERS];
    struct mq_message msg;
};

struct bare_front {
    struct mq_publisher *pub;
    const char *exchange;
    bool resumed; /* a confirm resumed a connection: run libmicrohttpd again */
};

static volatile sig_atomic_t stopping;

static void on_signal(int signo)
{
    (void)signo;
    stopping = 1;
}

/* The publish's outcome is known: resume the request to answer it. */
static void finish(struct bare_front *front, struct request *req, wr_status result)
{
    req->status = result == WR_OK ? MHD_HTTP_ACCEPTED : MHD_HTTP_SERVICE_UNAVAILABLE;
    req->answered = true;
    MHD_resume_connection(req->connection);
    front->resumed = true;
}

static void on_confirm(void *publish_ctx, wr_status result, const struct wr_error *detail,
                       void *user)
{
    (void)detail;
    finish(user, publish_ctx, result);
}

static enum MHD_Result answer(struct MHD_Connection *connection, unsigned status, const char *body)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

static void publish(struct bare_front *front, struct request *req)
{
    wr_random_uuid(req->message_id);
    wr_random_uuid(req->order_id);
    req->msg = (struct mq_message){
        .exchange = front->exchange,
        .type = "order.placed",
        .body = req->body,
        .body_len = req->body_len,
        .message_id = req->message_id,
        .correlation_id = req->order_id,
    };
    mq_envelope(&req->msg, req->headers, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "bench-shop");
    struct wr_error err;
    MHD_suspend_connection(req->connection);
    req->published = true;
    wr_status status = mq_publish(front->pub, &req->msg, req, &err);
    if (status != WR_OK)
        finish(front, req, status);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct bare_front *front = cls;
    struct request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->connection = connection;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (req->body_len + *upload_size > MAX_BODY) {
            req->too_large = true;
        } else {
            char *grown = realloc(req->body, req->body_len + *upload_size);
            if (!grown)
                return MHD_NO;
            memcpy(grown + req->body_len, upload_data, *upload_size);
            req->body = grown;
            req->body_len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->answered)
        return answer(connection, req->status,
                      req->status == MHD_HTTP_ACCEPTED ? "{\"status\":\"accepted\"}"
                                                       : "{\"error\":{\"code\":\"unavailable\"}}");
    if (req->published) /* resumed without an outcome: cannot happen */
        return MHD_NO;
    if (strcmp(method, "POST") != 0)
        return answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":{\"code\":\"method\"}}");
    if (req->too_large)
        return answer(connection, MHD_HTTP_CONTENT_TOO_LARGE,
                      "{\"error\":{\"code\":\"too_large\"}}");
    json_error_t error;
    json_t *order =
        json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(order)) {
        json_decref(order);
        return answer(connection, MHD_HTTP_BAD_REQUEST, "{\"error\":{\"code\":\"invalid_json\"}}");
    }
    json_decref(order);
    publish(front, req);
    return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                      enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)connection;
    (void)code;
    struct request *req = *con_cls;
    if (req && req->published && !req->answered)
        return; /* its publish is still in flight; the confirm needs it */
    if (req)
        free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Runs until SIGTERM or SIGINT: waits on libmicrohttpd's epoll set and the
 * broker's socket, lets libmicrohttpd read and answer, then reads confirms
 * (which resume connections, to be answered by the next run). */
static int serve(struct bare_front *front, struct mq_conn *conn, struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    while (!stopping) {
        struct pollfd fds[2] = {
            {.fd = info->epoll_fd, .events = POLLIN},
            {.fd = mq_conn_socket(conn), .events = POLLIN},
        };
        MHD_UNSIGNED_LONG_LONG mhd_timeout;
        int timeout_ms = 1000;
        if (MHD_get_timeout(daemon, &mhd_timeout) == MHD_YES && mhd_timeout < 1000)
            timeout_ms = (int)mhd_timeout;
        (void)poll(fds, 2, timeout_ms);
        MHD_run(daemon);
        do {
            front->resumed = false;
            struct wr_error err;
            if (mq_publisher_poll(front->pub, 0, &err) != WR_OK) {
                fprintf(stderr, "bench_bare_front: the broker: %s\n", err.message);
                return 1;
            }
            if (front->resumed)
                MHD_run(daemon);
        } while (front->resumed && !stopping);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("WARREN_BROKER_URL");
    if (argc != 3 || !url || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "usage: WARREN_BROKER_URL=amqp://... bench_bare_front PORT EXCHANGE\n"
                "  answers POSTs of JSON objects with 202 after publishing each to EXCHANGE\n"
                "  (routing key order.placed) with confirms; SIGTERM stops it\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end || port < 1 || port > 65535) {
        fprintf(stderr, "bench_bare_front: PORT must be 1-65535, not '%s'\n", argv[1]);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct bare_front front = {.exchange = argv[2]};
    struct wr_error err;
    struct mq_conn_options conn_options = {
        .url = url, .name = "bench_bare_front", .heartbeat_s = 30};
    struct mq_conn *conn = mq_conn_open(&conn_options, &err);
    if (!conn) {
        fprintf(stderr, "bench_bare_front: the broker: %s\n", err.message);
        return 1;
    }
    struct mq_publisher_options pub_options = {
        .max_in_flight = 1024, .on_confirm = on_confirm, .user = &front, .batch_writes = true};
    front.pub = mq_publisher_create(conn, &pub_options, &err);
    struct MHD_Daemon *daemon =
        front.pub ? MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)port, NULL,
                                     NULL, handle, &front, MHD_OPTION_NOTIFY_COMPLETED, completed,
                                     NULL, MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END)
                  : NULL;
    int rc = 1;
    if (!front.pub)
        fprintf(stderr, "bench_bare_front: the publisher: %s\n", err.message);
    else if (!daemon)
        fprintf(stderr, "bench_bare_front: cannot listen on port %ld\n", port);
    else
        rc = serve(&front, conn, daemon);
    /* outstanding publishes end (and resume their connections) while the
     * daemon that owns those connections still runs */
    if (front.pub && mq_publisher_flush(front.pub, 5000, &err) != WR_OK)
        fprintf(stderr, "bench_bare_front: at exit: %s\n", err.message);
    mq_publisher_destroy(front.pub);
    if (daemon)
        MHD_stop_daemon(daemon);
    mq_conn_close(conn);
    return rc;
}
