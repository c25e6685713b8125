/* The services warren runs on the worker runtime, one file each. */
#ifndef WARREN_WORKERS_SERVICES_H
#define WARREN_WORKERS_SERVICES_H

#include "workers/runtime.h"

extern const struct wrk_service wrk_order_service;

#endif
