/* The table of services (`warren-worker --service NAME` looks its NAME up
 * here) and the answers the services' handle() functions share. */
#include <stddef.h>
#include <string.h>

#include "workers/services.h"

static const struct wrk_service *const services[] = {
    &wrk_order_service,   &wrk_inventory_service,    &wrk_analytics_service,
    &wrk_payment_service, &wrk_notification_service, &wrk_deadletter_service,
};

const struct wrk_service *wrk_service_find(const char *name)
{
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (strcmp(services[i]->name, name) == 0)
            return services[i];
    return NULL;
}

enum wrk_outcome wrk_bad_message(struct wr_error *why, const char *what)
{
    wr_error_set(why, WR_ERR_INVALID, "%s", what);
    return WRK_PERMANENT;
}

enum wrk_outcome wrk_db_failed(struct wr_error *why, const char *service,
                               const struct wr_error *err)
{
    wr_error_set(why, err->code, "%s database: %s", service, err->message);
    return WRK_RETRY;
}
