/* The services warren runs on the worker runtime, one file each. */
#ifndef WARREN_WORKERS_SERVICES_H
#define WARREN_WORKERS_SERVICES_H

#include "workers/runtime.h"

extern const struct wrk_service wrk_order_service;
extern const struct wrk_service wrk_inventory_service;
extern const struct wrk_service wrk_analytics_service;
extern const struct wrk_service wrk_payment_service;
extern const struct wrk_service wrk_notification_service;

/* Applies the inventory service's migrations (catalog, reservations) to db,
 * as a worker does at start: for `warrenctl catalog` before any worker ran. */
wr_status wrk_inventory_migrate(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;

/* Applies the analytics service's migrations (events) to db: for
 * `warrenctl report` before any worker ran. */
wr_status wrk_analytics_migrate(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;

#endif
