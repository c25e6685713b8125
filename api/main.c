/* warren-api: the HTTP intake API. Loads config and keys, prepares the
 * Idempotency-Key store, starts the publisher thread and the HTTP server,
 * and on SIGTERM/SIGINT stops accepting, drains in-flight requests (up to
 * api.drain_timeout) and exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/idem_queue.h"
#include "api/idempotency.h"
#include "config/apikeys.h"
#include "config/config.h"
#include "core/cli.h"
#include "core/log.h"

static void usage(FILE *out)
{
    fputs("usage: warren-api [--config FILE]\n"
          "\n"
          "The HTTP intake API of warren: storefronts POST orders to /v1/orders; a 202\n"
          "means the broker confirmed the order.placed message.\n"
          "\n"
          "  --config FILE  YAML configuration (default: none, built-in defaults)\n"
          "  --help         this text\n"
          "  --version      the version\n"
          "\n"
          "Every key can also be set from the environment (api.port -> WARREN_API_PORT).\n"
          "Keys, defaults and current values:\n",
          out);
}

/* Reads a whole file into a NUL-terminated string (TLS PEM files). */
static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    char chunk[4096];
    size_t n;
    while (out && (n = fread(chunk, 1, sizeof chunk, file)) > 0)
        fwrite(chunk, 1, n, out);
    if (out)
        fclose(out);
    fclose(file);
    return text;
}

/* Sleeps until SIGTERM/SIGINT, purging old Idempotency-Keys every minute. */
static void serve_until_signal(struct api_context *ctx, const sigset_t *signals,
                               int retention_hours)
{
    struct timespec minute = {.tv_sec = 60};
    for (;;) {
        int sig = sigtimedwait(signals, NULL, &minute);
        if (sig == SIGTERM || sig == SIGINT) {
            wr_log(WR_LOG_INFO, "api", "%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        struct wr_error err;
        long deleted = 0;
        struct db_conn *db = db_pool_acquire(ctx->db, &err);
        if (db && api_idem_purge(db, retention_hours, &deleted, &err) == WR_OK && deleted > 0)
            wr_log(WR_LOG_INFO, "api", "purged %ld Idempotency-Keys", deleted);
        if (db)
            db_pool_release(ctx->db, db);
    }
}

static void drain(struct api_context *ctx, int64_t timeout_ms)
{
    int64_t deadline = mq_now_ms() + timeout_ms;
    while (api_metrics_in_flight(ctx->metrics) > 0 && mq_now_ms() < deadline) {
        struct timespec tick = {.tv_nsec = 20 * 1000000};
        nanosleep(&tick, NULL);
    }
    long left = api_metrics_in_flight(ctx->metrics);
    if (left > 0)
        wr_log(WR_LOG_WARN, "api", "drain timeout: %ld requests still in flight", left);
}

/* Builds the context from cfg; returns 0 or prints why and returns 1. */
static int build_context(const struct cfg *cfg, struct api_context *ctx)
{
    struct cfg_api_key *keys = NULL;
    size_t key_count = 0;
    struct wr_error err;
    if (cfg_api_keys_load(cfg_str(cfg, CFG_API_KEYS_FILE), stderr, &keys, &key_count) != WR_OK)
        return 1;
    ctx->keys = api_keyring_create(keys, key_count);
    ctx->metrics = api_metrics_create();
    ctx->db = db_pool_create(cfg_str(cfg, CFG_API_DATABASE_URL),
                             (size_t)cfg_int(cfg, CFG_API_MAX_CONNECTIONS) / 8 + 4);
    ctx->orders_db = db_pool_create(cfg_str(cfg, CFG_DB_ORDER_URL),
                                    (size_t)cfg_int(cfg, CFG_API_MAX_CONNECTIONS) / 8 + 4);
    ctx->deadletter_db = db_pool_create(cfg_str(cfg, CFG_DB_DEADLETTER_URL), 4);
    ctx->broker_url = cfg_str(cfg, CFG_BROKER_URL);
    ctx->topology_file = cfg_str(cfg, CFG_TOPOLOGY_FILE);
    ctx->control_socket = cfg_str(cfg, CFG_FLEET_CONTROL_SOCKET);
    ctx->management_url = cfg_str(cfg, CFG_BROKER_MANAGEMENT_URL);
    cfg_broker_vhost(cfg, ctx->vhost, sizeof ctx->vhost);
    ctx->limits = api_order_limits_default();
    ctx->limits.max_body = (size_t)cfg_int(cfg, CFG_API_MAX_BODY);
    ctx->idempotency_lease_s = 30;
    ctx->exchange = cfg_str(cfg, CFG_BROKER_EXCHANGE);
    if (!ctx->keys || !ctx->metrics || !ctx->db || !ctx->orders_db || !ctx->deadletter_db) {
        fprintf(stderr, "warren-api: out of memory\n");
        return 1;
    }
    struct db_conn *db = db_pool_acquire(ctx->db, &err);
    wr_status status = db ? api_idem_migrate(db, &err) : err.code;
    if (db)
        db_pool_release(ctx->db, db);
    if (status != WR_OK) {
        fprintf(stderr, "warren-api: %s\n", err.message);
        return 1;
    }
    struct api_intake_options intake = {
        .conn = {.url = cfg_str(cfg, CFG_BROKER_URL),
                 .name = "warren-api",
                 .heartbeat_s = (int)(cfg_int(cfg, CFG_BROKER_HEARTBEAT) / 1000),
                 .connect_timeout_ms = cfg_int(cfg, CFG_BROKER_CONNECT_TIMEOUT),
                 .reconnect_max_backoff_ms = cfg_int(cfg, CFG_BROKER_RECONNECT_MAX_BACKOFF)},
        .confirm_timeout_ms = cfg_int(cfg, CFG_BROKER_CONFIRM_TIMEOUT),
    };
    ctx->idem = api_idem_queue_start(cfg_str(cfg, CFG_API_DATABASE_URL), &err);
    if (ctx->idem)
        ctx->intake = api_intake_start(&intake, &err);
    if (!ctx->intake) {
        fprintf(stderr, "warren-api: %s\n", err.message);
        return 1;
    }
    return 0;
}

static void free_context(struct api_context *ctx)
{
    api_intake_stop(ctx->intake); /* its last outcomes still queue answers and releases */
    api_idem_queue_stop(ctx->idem);
    db_pool_free(ctx->db);
    db_pool_free(ctx->orders_db);
    db_pool_free(ctx->deadletter_db);
    api_metrics_free(ctx->metrics);
    api_keyring_free(ctx->keys);
}

static int run(const struct cfg *cfg)
{
    struct api_context ctx = {0};
    struct wr_error err;
    char *cert = NULL, *key = NULL;
    int rc = 1;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* threads started below inherit it */
    signal(SIGPIPE, SIG_IGN);
    if (build_context(cfg, &ctx) != 0)
        goto out;
    if (*cfg_str(cfg, CFG_API_TLS_CERT) &&
        (!(cert = read_file(cfg_str(cfg, CFG_API_TLS_CERT))) ||
         !(key = read_file(cfg_str(cfg, CFG_API_TLS_KEY))))) {
        fprintf(stderr, "warren-api: cannot read api.tls_cert / api.tls_key: %s\n",
                strerror(errno));
        goto out;
    }
    struct api_server_options options = {
        .address = cfg_str(cfg, CFG_API_ADDRESS),
        .port = (int)cfg_int(cfg, CFG_API_PORT),
        .max_connections = (unsigned)cfg_int(cfg, CFG_API_MAX_CONNECTIONS),
        .threads = (unsigned)cfg_int(cfg, CFG_API_THREADS),
        .tls_cert_pem = cert,
        .tls_key_pem = key,
    };
    struct api_server *server = api_server_start(&ctx, &options, &err);
    if (!server) {
        fprintf(stderr, "warren-api: %s\n", err.message);
        goto out;
    }
    wr_log(WR_LOG_INFO, "api", "listening on %s://%s:%d", cert ? "https" : "http",
           options.address, options.port);
    /* an access-log line per request: written in bulk, not a write() each */
    if (wr_log_buffer_start(100, &err) != WR_OK)
        wr_log(WR_LOG_WARN, "api", "log lines unbuffered: %s", err.message);
    serve_until_signal(&ctx, &signals, (int)(cfg_int(cfg, CFG_API_IDEMPOTENCY_RETENTION) / 3600000));
    api_server_quiesce(server);
    drain(&ctx, cfg_int(cfg, CFG_API_DRAIN_TIMEOUT));
    api_server_stop(server);
    wr_log(WR_LOG_INFO, "api", "stopped");
    rc = 0;
out:
    wr_log_buffer_stop();
    free(cert);
    free(key);
    free_context(&ctx);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path = getenv("WARREN_CONFIG");
    const struct wr_cli_option options[] = {{"config", &config_path}};
    enum wr_cli_result parsed = wr_cli_parse("warren-api", argc, argv, options, 1);
    if (parsed == WR_CLI_VERSION) {
        printf("warren-api %s\n", WARREN_VERSION);
        return 0;
    }
    if (parsed == WR_CLI_USAGE_ERROR)
        return 2;
    struct cfg *cfg = NULL;
    if (cfg_load(config_path, stderr, &cfg) != WR_OK) {
        fprintf(stderr, "warren-api: bad configuration (see above)\n");
        return parsed == WR_CLI_HELP ? 0 : 1;
    }
    if (parsed == WR_CLI_HELP) {
        usage(stdout);
        cfg_dump(cfg, stdout);
        cfg_free(cfg);
        return 0;
    }
    enum wr_log_level level = WR_LOG_INFO;
    (void)wr_log_level_parse(cfg_str(cfg, CFG_LOG_LEVEL), &level);
    wr_log_set_level(level);
    int rc = run(cfg);
    cfg_free(cfg);
    return rc;
}
