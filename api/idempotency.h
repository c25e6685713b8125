/* The Idempotency-Key store of the intake API (PostgreSQL, shared by every
 * API process): the same storefront + key + JSON value always maps to the
 * same order id and answer, a different value is refused, and a request
 * still in flight elsewhere is reported as such.
 *
 * Keys are kept for retention_hours (at least 24) and then purged. */
#ifndef WARREN_API_IDEMPOTENCY_H
#define WARREN_API_IDEMPOTENCY_H

#include "core/db.h"
#include "core/status.h"

/* Outcome of claiming a key. */
enum api_idem_claim {
    API_IDEM_NEW,       /* this request owns the key: publish with order_id */
    API_IDEM_DONE,      /* answered before: replay status + body */
    API_IDEM_IN_FLIGHT, /* another request with this key is being processed: 409 */
    API_IDEM_MISMATCH,  /* the key was used with another body: 422 */
};

struct api_idem_result {
    enum api_idem_claim claim;
    char order_id[40];      /* API_IDEM_NEW and API_IDEM_DONE */
    int response_status;    /* API_IDEM_DONE */
    char *response_body;    /* API_IDEM_DONE; caller frees with free() */
};

/* The schema (versioned migrations for the API's database). */
wr_status api_idem_migrate(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;

/* Claims (storefront, key) for a request whose canonical body hashes to
 * request_hash (hex). proposed_order_id is used when the key is new. A
 * claim is a lease of lease_seconds: if its holder dies, a later request
 * with the same body takes the key over with the same order id. */
wr_status api_idem_claim(struct db_conn *db, const char *storefront, const char *key,
                         const char *request_hash, const char *proposed_order_id,
                         int lease_seconds, struct api_idem_result *out, struct wr_error *err)
    WR_MUST_CHECK;

/* Records the final answer of a claimed key. */
wr_status api_idem_complete(struct db_conn *db, const char *storefront, const char *key,
                            int response_status, const char *response_body, struct wr_error *err)
    WR_MUST_CHECK;

/* Gives up a claim without an answer (the publish failed): the next
 * request with the same key and body takes it over at once, keeping the
 * order id, so an order that did reach the broker is never doubled. */
wr_status api_idem_release(struct db_conn *db, const char *storefront, const char *key,
                           struct wr_error *err) WR_MUST_CHECK;

/* Deletes keys older than retention_hours; *deleted gets the count. */
wr_status api_idem_purge(struct db_conn *db, int retention_hours, long *deleted,
                         struct wr_error *err) WR_MUST_CHECK;

#endif
