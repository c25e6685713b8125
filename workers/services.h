/* The services warren runs on the worker runtime, one file each, and the
 * two answers their handle() functions share: a message no retry can fix,
 * and a database failure worth a retry. */
#ifndef WARREN_WORKERS_SERVICES_H
#define WARREN_WORKERS_SERVICES_H

#include "workers/runtime.h"

extern const struct wrk_service wrk_order_service;
extern const struct wrk_service wrk_inventory_service;
extern const struct wrk_service wrk_analytics_service;
extern const struct wrk_service wrk_payment_service;
extern const struct wrk_service wrk_notification_service;
extern const struct wrk_service wrk_deadletter_service;

/* Sets why to what (WR_ERR_INVALID) and returns WRK_PERMANENT: the message
 * is dead-lettered at once. */
enum wrk_outcome wrk_bad_message(struct wr_error *why, const char *what);

/* Sets why to "<service> database: <err's message>" with err's code and
 * returns WRK_RETRY. */
enum wrk_outcome wrk_db_failed(struct wr_error *why, const char *service,
                               const struct wr_error *err);

#endif
