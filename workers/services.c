/* The table of services: `warren-worker --service NAME` looks its NAME up here. */
#include <stddef.h>
#include <string.h>

#include "workers/services.h"

static const struct wrk_service *const services[] = {
    &wrk_order_service,
    &wrk_inventory_service,
    &wrk_analytics_service,
    &wrk_payment_service,
    &wrk_notification_service,
};

const struct wrk_service *wrk_service_find(const char *name)
{
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (strcmp(services[i]->name, name) == 0)
            return services[i];
    return NULL;
}
