/* What warrenctl's commands share: broker settings read through config/
 * (so --config and WARREN_* overrides behave as in every warren program)
 * and the one format of usage errors. */
#include "ctl/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"

static void fill_broker(const struct cfg *cfg, struct ctl_broker *out)
{
    enum wr_log_level level;
    snprintf(out->url, sizeof out->url, "%s", cfg_str(cfg, CFG_BROKER_URL));
    snprintf(out->management_url, sizeof out->management_url, "%s",
             cfg_str(cfg, CFG_BROKER_MANAGEMENT_URL));
    cfg_broker_vhost(cfg, out->vhost, sizeof out->vhost);
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
