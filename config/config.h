/* config/: warren's runtime configuration.
 *
 * Every key is declared once in a table (config/keys.c) with its type,
 * default and help. Values come from, in rising priority: the defaults, a
 * YAML file (--config, two levels: `broker: {url: ...}`), and environment
 * variables named WARREN_<SECTION>_<KEY> (WARREN_BROKER_URL). Everything is
 * validated at load time and each problem is reported as one line. */
#ifndef WARREN_CONFIG_H
#define WARREN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

/* Every configuration key (see the table in config/keys.c). */
enum cfg_key {
    CFG_BROKER_URL,
    CFG_BROKER_MANAGEMENT_URL,
    CFG_BROKER_HEARTBEAT,
    CFG_BROKER_CONNECT_TIMEOUT,
    CFG_BROKER_CONFIRM_TIMEOUT,
    CFG_BROKER_RECONNECT_MAX_BACKOFF,
    CFG_BROKER_EXCHANGE,
    CFG_TOPOLOGY_FILE,
    CFG_LOG_LEVEL,
    CFG_API_ADDRESS,
    CFG_API_PORT,
    CFG_API_KEYS_FILE,
    CFG_API_DATABASE_URL,
    CFG_API_IDEMPOTENCY_RETENTION,
    CFG_API_MAX_BODY,
    CFG_API_MAX_CONNECTIONS,
    CFG_API_THREADS,
    CFG_API_DRAIN_TIMEOUT,
    CFG_API_TLS_CERT,
    CFG_API_TLS_KEY,
    CFG_DB_ORDER_URL,
    CFG_DB_INVENTORY_URL,
    CFG_DB_PAYMENT_URL,
    CFG_DB_NOTIFICATION_URL,
    CFG_DB_ANALYTICS_URL,
    CFG_DB_DEADLETTER_URL,
    CFG_DEADLETTER_RETENTION_DAYS,
    CFG_WORKER_SHUTDOWN_TIMEOUT,
    CFG_WORKER_OUTAGE_THRESHOLD,
    CFG_WORKER_OUTAGE_PROBE_MIN,
    CFG_WORKER_OUTAGE_PROBE_MAX,
    CFG_WORKER_METRICS_ADDRESS,
    CFG_WORKER_METRICS_PORT,
    CFG_FLEET_SHUTDOWN_TIMEOUT,
    CFG_FLEET_CONTROL_SOCKET,
    CFG_PAYMENT_GATEWAY_URL,
    CFG_PAYMENT_API_KEY,
    CFG_PAYMENT_TIMEOUT,
    CFG_PAYMENT_CONNECT_TIMEOUT,
    CFG_SMS_GATEWAY_URL,
    CFG_SMS_ACCOUNT_SID,
    CFG_SMS_AUTH_TOKEN,
    CFG_SMS_FROM,
    CFG_SMS_TIMEOUT,
    CFG_SMS_CONNECT_TIMEOUT,
    CFG_SMTP_HOST,
    CFG_SMTP_PORT,
    CFG_SMTP_FROM,
    CFG_SMTP_STARTTLS,
    CFG_SMTP_USER,
    CFG_SMTP_PASSWORD,
    CFG_SMTP_TIMEOUT,
    CFG_KEY_COUNT
};

struct cfg;

/* Loads defaults, then path (NULL = no file), then the environment.
 * Returns WR_OK with *out set (free with cfg_free), or WR_ERR_CONFIG after
 * writing one line per problem to problems (e.g. stderr), such as
 * "warren.yaml:4:14: broker.heartbeat: expected a duration like 250ms, 10s, 5m or 1h"
 * or "WARREN_LOG_LEVEL: log.level: expected one of debug, info, warn, error". */
wr_status cfg_load(const char *path, FILE *problems, struct cfg **out) WR_MUST_CHECK;

void cfg_free(struct cfg *cfg);

/* The value of a string or enum key. Never NULL; owned by cfg. */
const char *cfg_str(const struct cfg *cfg, enum cfg_key key);

/* The virtual host broker.url names, percent-decoded ("/" when it names
 * none), into out. (config/vhost.c) */
void cfg_broker_vhost(const struct cfg *cfg, char *out, size_t size);

/* The value of an integer key, or a duration key in milliseconds. */
int64_t cfg_int(const struct cfg *cfg, enum cfg_key key);

/* Dotted name of a key ("broker.url"). */
const char *cfg_key_name(enum cfg_key key);

/* Writes every key with its value, source and help to out, passwords in
 * URLs redacted (for `--help` and `warrenctl config`). */
void cfg_dump(const struct cfg *cfg, FILE *out);

#endif
