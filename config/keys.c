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
};
