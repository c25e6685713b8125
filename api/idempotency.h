/* The Idempotency-Key store of the intake API (PostgreSQL, shared by every
 * API process): the same storefront + key + JSON value always maps to the
 * same order id and answer, a different value is refused, and a request
 * still in flight elsewhere is reported as such.
 *
 * Keys are kept for retention_hours (at least 24) and then purged. */
#ifndef WARREN_API_IDEMPOTENCY_H
#define WARREN_API_IDEMPOTENCY_H

#include <stdbool.h>

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

/* How often a claim is tried when the key vanishes between its claim
 * and its lookup (purged), before giving up with WR_ERR_RETRY. */
#define API_IDEM_CLAIM_ATTEMPTS 3

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

/* ---- The same statements for a caller that sends them in batches
 * (api/idem_queue.c): prepare one, send it (db_pipe_send), read its rows.
 * An api_idem_statement points into itself: do not copy it once
 * prepared; the strings given are borrowed until it has been sent. */
struct api_idem_statement {
    struct db_pipe_statement st;
    const char *params[5];
    char number[16]; /* lease seconds or response status as text */
};

/* The claim of api_idem_claim: its rows say whether this request owns the
 * key (api_idem_claim_read). */
void api_idem_claim_statement(struct api_idem_statement *s, const char *storefront,
                              const char *key, const char *request_hash,
                              const char *proposed_order_id, int lease_seconds);

/* True, with out set to API_IDEM_NEW and the order id, when the claim's
 * rows say this request owns the key; false: look the key up. */
bool api_idem_claim_read(const struct db_result *rows, struct api_idem_result *out);

/* What a key holds, for a claim that did not own it (api_idem_lookup_read). */
void api_idem_lookup_statement(struct api_idem_statement *s, const char *storefront,
                               const char *key);

/* Fills out from the lookup's rows (MISMATCH, DONE or IN_FLIGHT); for
 * DONE, out->response_body is malloc'd (caller frees it; WR_ERR_NOMEM when
 * that failed). WR_ERR_RETRY when the key vanished since the claim: claim
 * it again. */
wr_status api_idem_lookup_read(const struct db_result *rows, const char *request_hash,
                               struct api_idem_result *out, struct wr_error *err) WR_MUST_CHECK;

/* The answer of api_idem_complete and the release of api_idem_release. */
void api_idem_complete_statement(struct api_idem_statement *s, const char *storefront,
                                 const char *key, int response_status,
                                 const char *response_body);
void api_idem_release_statement(struct api_idem_statement *s, const char *storefront,
                                const char *key);

#endif
