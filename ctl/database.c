/* A service's database for warrenctl's commands that read or change it
 * directly (catalog, report): the URL comes from config/ (--config file,
 * WARREN_DATABASE_<SERVICE>_URL), and the service's schema is brought up to
 * date first, so the commands work before any worker has run. */
#include "ctl/ctl.h"

#include <stdio.h>

#include "config/config.h"
#include "core/log.h"
#include "workers/runtime.h"

struct db_conn *ctl_database_open(const struct ctl_context *ctx, enum cfg_key url_key,
                                  const struct wrk_service *service)
{
    struct cfg *cfg = NULL;
    struct db_conn *db = NULL;
    struct wr_error err = {0};
    enum wr_log_level level;
    if (cfg_load(ctx->config_path, stderr, &cfg) != WR_OK) {
        fprintf(stderr, "warrenctl: bad configuration (see above)\n");
        return NULL;
    }
    if (wr_log_level_parse(cfg_str(cfg, CFG_LOG_LEVEL), &level) == 0)
        wr_log_set_level(level);
    db = db_open(cfg_str(cfg, url_key), &err);
    if (db && service &&
        db_migrate(db, service->name, service->migrations, service->migration_count, &err) !=
            WR_OK) {
        db_close(db);
        db = NULL;
    }
    if (!db)
        fprintf(stderr, "warrenctl: %s: %s\n", cfg_key_name(url_key), err.message);
    cfg_free(cfg);
    return db;
}
