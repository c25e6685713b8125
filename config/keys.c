/* The table of every configuration key: name, type, default and help.
 * Adding a key is one line here plus its enum value in config.h. */
#include "config/internal.h"

const struct cfg_key_def cfg_key_defs[CFG_KEY_COUNT] = {
    [CFG_BROKER_URL] = {"broker.url", CFG_TYPE_URL, "amqp://warren:warren@127.0.0.1:5682/",
                        NULL, "AMQP URL of the RabbitMQ broker"},
    [CFG_BROKER_MANAGEMENT_URL] = {"broker.management_url", CFG_TYPE_URL,
                                   "http://warren:warren@127.0.0.1:15682", NULL,
                                   "RabbitMQ management HTTP API, with credentials"},
    [CFG_BROKER_HEARTBEAT] = {"broker.heartbeat", CFG_TYPE_DURATION, "30s", NULL,
                              "AMQP heartbeat interval"},
    [CFG_BROKER_CONNECT_TIMEOUT] = {"broker.connect_timeout", CFG_TYPE_DURATION, "5s", NULL,
                                    "TCP connect and AMQP handshake limit"},
    [CFG_BROKER_CONFIRM_TIMEOUT] = {"broker.confirm_timeout", CFG_TYPE_DURATION, "5s", NULL,
                                    "how long a publish may wait for its confirm"},
    [CFG_BROKER_RECONNECT_MAX_BACKOFF] = {"broker.reconnect_max_backoff", CFG_TYPE_DURATION,
                                          "30s", NULL, "longest pause between reconnect tries"},
    [CFG_TOPOLOGY_FILE] = {"topology.file", CFG_TYPE_STRING, "topology/topology.yaml", NULL,
                           "the topology file (exchanges, queues, retry, workers)"},
    [CFG_LOG_LEVEL] = {"log.level", CFG_TYPE_ENUM, "info", "debug,info,warn,error",
                       "lowest level logged"},
    [CFG_API_ADDRESS] = {"api.address", CFG_TYPE_STRING, "127.0.0.1", NULL,
                         "IPv4 address warren-api listens on (0.0.0.0 for all)"},
    [CFG_API_PORT] = {"api.port", CFG_TYPE_INT, "8080", NULL, "HTTP port of warren-api", 1, 65535},
    [CFG_API_KEYS_FILE] = {"api.keys_file", CFG_TYPE_STRING, "config/api-keys.yaml", NULL,
                           "storefront and admin keys (hashes) with their rate limits"},
    [CFG_API_DATABASE_URL] = {"api.database_url", CFG_TYPE_URL,
                              "postgresql://warren:warren@127.0.0.1:5442/warren_api", NULL,
                              "the API's own database (Idempotency-Key store)"},
    [CFG_API_IDEMPOTENCY_RETENTION] = {"api.idempotency_retention", CFG_TYPE_DURATION, "48h",
                                       NULL, "how long Idempotency-Keys are remembered (>= 24h)",
                                       24LL * 3600000, 720LL * 3600000},
    [CFG_API_MAX_BODY] = {"api.max_body", CFG_TYPE_INT, "65536", NULL,
                          "largest request body in bytes", 1024, 1048576},
    [CFG_API_MAX_CONNECTIONS] = {"api.max_connections", CFG_TYPE_INT, "512", NULL,
                                 "concurrent HTTP connections", 1, 10000},
    [CFG_API_DRAIN_TIMEOUT] = {"api.drain_timeout", CFG_TYPE_DURATION, "30s", NULL,
                               "on SIGTERM, how long in-flight requests may take to finish"},
    [CFG_API_TLS_CERT] = {"api.tls_cert", CFG_TYPE_OPTIONAL, "", NULL,
                          "PEM certificate file; set with api.tls_key to serve HTTPS"},
    [CFG_API_TLS_KEY] = {"api.tls_key", CFG_TYPE_OPTIONAL, "", NULL,
                         "PEM private key file for api.tls_cert"},
#define SERVICE_DB(key, service)                                                                   \
    [key] = {"database." service "_url", CFG_TYPE_URL,                                             \
             "postgresql://warren:warren@127.0.0.1:5442/warren_" service, NULL,                     \
             "the " service " service's own database"}
    SERVICE_DB(CFG_DB_ORDER_URL, "order"),
    SERVICE_DB(CFG_DB_INVENTORY_URL, "inventory"),
    SERVICE_DB(CFG_DB_PAYMENT_URL, "payment"),
    SERVICE_DB(CFG_DB_NOTIFICATION_URL, "notification"),
    SERVICE_DB(CFG_DB_ANALYTICS_URL, "analytics"),
    SERVICE_DB(CFG_DB_DEADLETTER_URL, "deadletter"),
#undef SERVICE_DB
    [CFG_WORKER_SHUTDOWN_TIMEOUT] = {"worker.shutdown_timeout", CFG_TYPE_DURATION, "30s", NULL,
                                     "on SIGTERM, how long a worker may take to finish and ack"},
};
