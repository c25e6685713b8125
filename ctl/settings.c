/* What warrenctl's commands share: broker settings read through config/
 * (so --config and WARREN_* overrides behave as in every warren program)
 * and the one format of usage errors. */
#include "ctl/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The vhost of an AMQP URL: the percent-decoded path after the host;
 * "/" when there is none or it is empty (as broker/ reads it). */
static void vhost_of(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    size_t o = 0;
    p = p ? strchr(p + 3, '/') : NULL;
    if (!p || !p[1]) {
        snprintf(out, size, "/");
        return;
    }
    for (p++; *p && *p != '?' && o + 1 < size; p++) {
        int hi = p[0] == '%' ? hex_value(p[1]) : -1, lo = hi >= 0 ? hex_value(p[2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void fill_broker(const struct cfg *cfg, struct ctl_broker *out)
{
    enum wr_log_level level;
    snprintf(out->url, sizeof out->url, "%s", cfg_str(cfg, CFG_BROKER_URL));
    snprintf(out->management_url, sizeof out->management_url, "%s",
             cfg_str(cfg, CFG_BROKER_MANAGEMENT_URL));
    vhost_of(out->url, out->vhost, sizeof out->vhost);
    out->connect_timeout_ms = cfg_int(cfg, CFG_BROKER_CONNECT_TIMEOUT);
    if (wr_log_level_parse(cfg_str(cfg, CFG_LOG_LEVEL), &level) == 0)
        wr_log_set_level(level);
}

wr_status ctl_broker_settings(const struct ctl_context *ctx, struct ctl_broker *out)
{
    struct cfg *cfg = NULL;
    if (cfg_load(ctx->config_path, stderr, &cfg) != WR_OK)
        return WR_ERR_CONFIG;
    fill_broker(cfg, out);
    cfg_free(cfg);
    return WR_OK;
}

wr_status ctl_fleet_settings(const struct ctl_context *ctx, struct ctl_fleet *out)
{
    struct cfg *cfg = NULL;
    if (cfg_load(ctx->config_path, stderr, &cfg) != WR_OK)
        return WR_ERR_CONFIG;
    fill_broker(cfg, &out->broker);
    snprintf(out->control_socket, sizeof out->control_socket, "%s",
             cfg_str(cfg, CFG_FLEET_CONTROL_SOCKET));
    snprintf(out->topology_file, sizeof out->topology_file, "%s",
             cfg_str(cfg, CFG_TOPOLOGY_FILE));
    cfg_free(cfg);
    return WR_OK;
}

int ctl_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fputs("warrenctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'warrenctl%s%s --help'.\n", command ? " " : "", command ? command : "");
    return CTL_EXIT_USAGE;
}

bool ctl_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}
