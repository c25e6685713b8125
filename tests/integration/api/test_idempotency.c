/* Integration tests of the Idempotency-Key store against the real
 * PostgreSQL: one owner under concurrency, replay, mismatch, takeover with
 * the same order id, purge. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/idempotency.h"
#include "tests/support/support.h"

static char url[256];
static char key[64];

static struct db_conn *open_db(void)
{
    struct wr_error err;
    struct db_conn *db = db_open(ts_db_url("api", url, sizeof url), &err);
    ck_assert_msg(db != NULL, "db_open: %s", err.message);
    ck_assert_msg(api_idem_migrate(db, &err) == WR_OK, "migrate: %s", err.message);
    return db;
}

static void setup(void)
{
    ts_unique_name("key", key, sizeof key);
}

START_TEST(first_claim_owns_then_answer_is_replayed)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    struct api_idem_result r;
    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "h1", "11111111-1111-4111-8111-111111111111",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_NEW);
    ck_assert_str_eq(r.order_id, "11111111-1111-4111-8111-111111111111");

    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "h1", "22222222-2222-4222-8222-222222222222",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_IN_FLIGHT);

    ck_assert_int_eq(api_idem_complete(db, "shop-a", key, 202, "{\"order_id\":\"1111\"}", &err),
                     WR_OK);
    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "h1", "33333333-3333-4333-8333-333333333333",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_DONE);
    ck_assert_int_eq(r.response_status, 202);
    ck_assert_str_eq(r.response_body, "{\"order_id\":\"1111\"}");
    ck_assert_str_eq(r.order_id, "11111111-1111-4111-8111-111111111111");
    free(r.response_body);

    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "other", "44444444-4444-4444-8444-444444444444",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_MISMATCH);

    /* keys are scoped per storefront */
    ck_assert_int_eq(api_idem_claim(db, "shop-b", key, "other", "55555555-5555-4555-8555-555555555555",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_NEW);
    db_close(db);
}
END_TEST

START_TEST(released_claim_is_taken_over_with_the_same_order_id)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    struct api_idem_result r;
    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "h", "66666666-6666-4666-8666-666666666666",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_NEW);
    ck_assert_int_eq(api_idem_release(db, "shop-a", key, &err), WR_OK);
    /* a different body may not take it over */
    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "x", "77777777-7777-4777-8777-777777777777",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_MISMATCH);
    ck_assert_int_eq(api_idem_claim(db, "shop-a", key, "h", "77777777-7777-4777-8777-777777777777",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_NEW);
    ck_assert_str_eq(r.order_id, "66666666-6666-4666-8666-666666666666");
    db_close(db);
}
END_TEST

START_TEST(concurrent_claims_have_exactly_one_owner)
{
    enum { CLAIMERS = 12 };
    int *owners = mmap(NULL, sizeof(int) * CLAIMERS, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(owners, MAP_FAILED);
    struct db_conn *db = open_db();
    db_close(db);
    pid_t children[CLAIMERS];
    for (int i = 0; i < CLAIMERS; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            struct wr_error err;
            struct api_idem_result r;
            char order_id[40];
            snprintf(order_id, sizeof order_id, "00000000-0000-4000-8000-%012d", i);
            struct db_conn *child = db_open(url, &err);
            int ok = child && api_idem_claim(child, "shop-c", key, "h", order_id, 30, &r,
                                             &err) == WR_OK;
            owners[i] = ok ? (r.claim == API_IDEM_NEW ? 1 : r.claim == API_IDEM_IN_FLIGHT ? 2 : 3)
                           : 4;
            db_close(child);
            _exit(0);
        }
    }
    int new_count = 0, in_flight_count = 0;
    for (int i = 0; i < CLAIMERS; i++) {
        waitpid(children[i], NULL, 0);
        new_count += owners[i] == 1;
        in_flight_count += owners[i] == 2;
    }
    ck_assert_int_eq(new_count, 1);
    ck_assert_int_eq(in_flight_count, CLAIMERS - 1);
    munmap(owners, sizeof(int) * CLAIMERS);
}
END_TEST

START_TEST(purge_keeps_recent_keys)
{
    struct db_conn *db = open_db();
    struct wr_error err;
    struct api_idem_result r;
    long deleted = -1;
    ck_assert_int_eq(api_idem_claim(db, "shop-d", key, "h", "88888888-8888-4888-8888-888888888888",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(api_idem_complete(db, "shop-d", key, 202, "{}", &err), WR_OK);
    ck_assert_int_eq(api_idem_purge(db, 24, &deleted, &err), WR_OK);
    ck_assert_int_ge(deleted, 0);
    ck_assert_int_eq(api_idem_claim(db, "shop-d", key, "h", "99999999-9999-4999-8999-999999999999",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_DONE);
    free(r.response_body);
    /* an old answered key goes */
    const char *params[] = {"shop-d", key};
    ck_assert_int_eq(db_exec(db,
                             "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
                             " WHERE storefront = $1 AND key = $2",
                             2, params, NULL, &err),
                     WR_OK);
    ck_assert_int_eq(api_idem_purge(db, 24, &deleted, &err), WR_OK);
    ck_assert_int_ge(deleted, 1);
    ck_assert_int_eq(api_idem_claim(db, "shop-d", key, "h", "99999999-9999-4999-8999-999999999999",
                                    30, &r, &err),
                     WR_OK);
    ck_assert_int_eq(r.claim, API_IDEM_NEW);
    db_close(db);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("idempotency");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, first_claim_owns_then_answer_is_replayed);
    tcase_add_test(tc, released_claim_is_taken_over_with_the_same_order_id);
    tcase_add_test(tc, concurrent_claims_have_exactly_one_owner);
    tcase_add_test(tc, purge_keeps_recent_keys);
    suite_add_tcase(suite, tc);
    return ts_run_suite(suite);
}
