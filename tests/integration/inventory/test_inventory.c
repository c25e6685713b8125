/* Integration tests of the inventory service against the real broker and
 * database, with two warren-worker --service inventory processes: reserve
 * prices lines from the catalog and takes stock all or nothing (unknown
 * SKU, out of stock, partial stock, currency mismatch change nothing),
 * release gives stock back exactly once, commit keeps it taken, a bad
 * message is dead-lettered, and a flash sale of 300 orders for 50 items
 * never oversells. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/programs.h"
#include "tests/support/support.h"
#include "tests/support/world.h"

static struct ts_world world;
static pid_t workers[2];
static unsigned consumers; /* on the world's queue once setup is done */

static void setup(void)
{
    static const char *const answers[] = {"inventory.reserved", "inventory.rejected", NULL};
    ts_world_create(&world, "inventory", answers);
    workers[0] = ts_worker_start(&world, "inventory", NULL);
    workers[1] = ts_worker_start(&world, "inventory", NULL);
    consumers = ts_wait_consumers(world.queue, 2);
}

/* Stops both workers (each must finish cleanly: exit 0, no sanitizer
 * report) and removes the world before asserting. */
static void teardown(void)
{
    int status = ts_workers_stop(workers, 2);
    ts_world_destroy(&world);
    ck_assert_int_eq(status, 0);
}

/* ---- helpers ------------------------------------------------------------------------- */

/* "<world prefix>-<tag>": SKUs no other test run uses. */
static const char *sku(const char *tag, char *out, size_t size)
{
    snprintf(out, size, "%s-%s", world.prefix, tag);
    return out;
}

/* Imports rows "TAG,name,price,currency,stock\n..." with TAG turned into sku(TAG). */
static void import(const char *const *rows)
{
    char text[4096] = "sku,name,price,currency,stock\n";
    size_t used = strlen(text);
    for (size_t i = 0; rows[i]; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s-%s\n", world.prefix, rows[i]);
    ts_ctl_catalog_import(text);
}

static long stock(struct db_conn *db, const char *tag)
{
    char name[128];
    return ts_db_number(db, "SELECT stock FROM catalog WHERE sku = $1", sku(tag, name, sizeof name),
                        NULL);
}

static json_t *items1(const char *tag, int quantity)
{
    char name[128];
    return json_pack("[{s:s, s:i}]", "sku", sku(tag, name, sizeof name), "quantity", quantity);
}

static json_t *items2(const char *tag1, int q1, const char *tag2, int q2)
{
    char a[128], b[128];
    return json_pack("[{s:s, s:i}, {s:s, s:i}]", "sku", sku(tag1, a, sizeof a), "quantity", q1,
                     "sku", sku(tag2, b, sizeof b), "quantity", q2);
}

/* Publishes inventory.reserve for a new order; returns the answer. */
static json_t *reserve(char order_id[37], const char *currency, json_t *items)
{
    ts_uuid(order_id);
    json_t *body =
        json_pack("{s:s, s:s, s:o}", "order_id", order_id, "currency", currency, "items", items);
    ts_publish(world.prefix, "inventory.reserve", order_id, "it-shop", body);
    ts_publish_flush();
    json_decref(body);
    json_t *answer = ts_next_message(world.reader, 15000);
    ck_assert_msg(answer != NULL, "no answer to inventory.reserve");
    ck_assert_str_eq(json_string_value(json_object_get(answer, "order_id")), order_id);
    return answer;
}

/* Publishes a commit or release for order_id (the order summary's shape). */
static void settle(const char *type, const char *order_id)
{
    json_t *body = json_pack("{s:s, s:s}", "order_id", order_id, "status", "whatever");
    ts_publish(world.prefix, type, order_id, "it-shop", body);
    ts_publish_flush();
    json_decref(body);
}

/* Asserts answer rejects sku(tag) with reason "<before><sku><after>"; frees answer. */
static void assert_rejected(json_t *answer, const char *before, const char *tag, const char *after)
{
    char name[128], reason[256];
    json_t *body = json_object_get(answer, "body");
    ck_assert_str_eq(json_string_value(json_object_get(answer, "type")), "inventory.rejected");
    snprintf(reason, sizeof reason, "%s%s%s", before, sku(tag, name, sizeof name), after);
    ck_assert_str_eq(json_string_value(json_object_get(body, "reason")), reason);
    ck_assert_str_eq(json_string_value(json_object_get(body, "sku")), name);
    json_decref(answer);
}

static const char reservation_status[] = "SELECT CASE status WHEN 'reserved' THEN 1"
                                         " WHEN 'committed' THEN 2 WHEN 'released' THEN 3 END"
                                         " FROM reservations WHERE order_id = $1";

/* ---- tests ----------------------------------------------------------------------------- */

START_TEST(test_reserve_prices_lines_and_takes_stock)
{
    static const char *const rows[] = {"TEE,\"Tee, red\",1299,EUR,100", "MUG,Mug,500,EUR,10", NULL};
    char order_id[37], name[128];
    struct db_conn *db = ts_db("inventory");
    ck_assert_uint_eq(consumers, 2); /* both workers started */
    import(rows);
    json_t *answer = reserve(order_id, "EUR", items2("TEE", 2, "MUG", 3));
    json_t *body = json_object_get(answer, "body"), *lines = json_object_get(body, "lines");
    ck_assert_str_eq(json_string_value(json_object_get(answer, "type")), "inventory.reserved");
    ck_assert_str_eq(json_string_value(json_object_get(body, "currency")), "EUR");
    ck_assert_int_eq(json_integer_value(json_object_get(body, "total")), 2 * 1299 + 3 * 500);
    ck_assert_int_eq(json_array_size(lines), 2);
    json_t *tee = json_array_get(lines, 0);
    ck_assert_str_eq(json_string_value(json_object_get(tee, "sku")), sku("TEE", name, sizeof name));
    ck_assert_str_eq(json_string_value(json_object_get(tee, "name")), "Tee, red");
    ck_assert_int_eq(json_integer_value(json_object_get(tee, "quantity")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(tee, "unit_price")), 1299);
    ck_assert_int_eq(json_integer_value(json_object_get(tee, "line_total")), 2598);
    ck_assert_int_eq(stock(db, "TEE"), 98);
    ck_assert_int_eq(stock(db, "MUG"), 7);
    ck_assert_int_eq(ts_db_number(db, reservation_status, order_id, NULL), 1);

    /* catalog show counts the open reservation */
    const char *const show[] = {"catalog", "show", sku("MUG", name, sizeof name), "--json", NULL};
    struct ts_ctl_run run;
    ts_ctl(&run, show);
    ck_assert_int_eq(run.status, 0);
    json_t *shown = json_loads(run.out, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(shown, "stock")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(shown, "reserved")), 3);
    json_decref(shown);
    ts_ctl_free(&run);
    json_decref(answer);
    ts_broker_disconnect();
    db_close(db);
}
END_TEST

START_TEST(test_rejections_change_no_stock)
{
    static const char *const rows[] = {"A,Alpha,100,EUR,5", "ZERO,Sold out,100,EUR,0",
                                       "US,Dollar item,100,USD,5", NULL};
    char order_id[37];
    struct db_conn *db = ts_db("inventory");
    import(rows);
    /* unknown SKU after a good line */
    assert_rejected(reserve(order_id, "EUR", items2("A", 1, "NOPE", 1)), "unknown sku: ", "NOPE",
                    "");
    /* out of stock */
    assert_rejected(reserve(order_id, "EUR", items1("ZERO", 1)), "out of stock: ", "ZERO", "");
    /* partial stock: 5 of 6 would be there, but all or nothing */
    assert_rejected(reserve(order_id, "EUR", items2("A", 2, "A", 4)), "out of stock: ", "A", "");
    assert_rejected(reserve(order_id, "EUR", items1("A", 6)), "out of stock: ", "A", "");
    /* the order's currency is not the catalog's */
    assert_rejected(reserve(order_id, "EUR", items1("US", 1)), "currency mismatch: ", "US",
                    " is priced in USD");
    ck_assert_int_eq(stock(db, "A"), 5);
    ck_assert_int_eq(stock(db, "ZERO"), 0);
    ck_assert_int_eq(stock(db, "US"), 5);
    ck_assert_int_eq(
        ts_db_number(db, "SELECT count(*) FROM reservations WHERE order_id = $1", order_id, NULL),
        0);
    ts_broker_disconnect();
    db_close(db);
}
END_TEST

START_TEST(test_release_gives_stock_back_once)
{
    static const char *const rows[] = {"B,Beta,250,EUR,10", "C,Gamma,100,EUR,3", NULL};
    char order_id[37];
    struct db_conn *db = ts_db("inventory");
    import(rows);
    json_decref(reserve(order_id, "EUR", items2("B", 4, "C", 3)));
    ck_assert_int_eq(stock(db, "B"), 6);
    ck_assert_int_eq(stock(db, "C"), 0);
    settle("inventory.release", order_id);
    settle("inventory.release", order_id); /* a duplicate */
    ck_assert_int_eq(ts_db_wait(db, reservation_status, order_id, NULL, 3, 10000), 3);
    ts_sleep_ms(500); /* time for a wrong second release to land */
    ck_assert_int_eq(stock(db, "B"), 10);
    ck_assert_int_eq(stock(db, "C"), 3);
    ck_assert_uint_eq(ts_depth(world.queue), 0);
    ts_broker_disconnect();
    db_close(db);
}
END_TEST

START_TEST(test_commit_keeps_stock_taken)
{
    static const char *const rows[] = {"D,Delta,700,EUR,4", NULL};
    char order_id[37];
    struct db_conn *db = ts_db("inventory");
    import(rows);
    json_decref(reserve(order_id, "EUR", items1("D", 3)));
    settle("inventory.commit", order_id);
    ck_assert_int_eq(ts_db_wait(db, reservation_status, order_id, NULL, 2, 10000), 2);
    ck_assert_int_eq(stock(db, "D"), 1);
    /* a release after the commit (out of order, or a stray replay) gives nothing back */
    settle("inventory.release", order_id);
    ts_sleep_ms(500);
    ck_assert_int_eq(ts_db_number(db, reservation_status, order_id, NULL), 2);
    ck_assert_int_eq(stock(db, "D"), 1);
    ts_broker_disconnect();
    db_close(db);
}
END_TEST

START_TEST(test_bad_message_is_dead_lettered)
{
    char order_id[37], dead[128];
    ts_uuid(order_id);
    json_t *body = json_pack("{s:s, s:s, s:[{s:s, s:i}]}", "order_id", order_id, "currency", "EUR",
                             "items", "sku", "X", "quantity", 0);
    ts_publish(world.prefix, "inventory.reserve", order_id, "it-shop", body);
    ts_publish_flush();
    json_decref(body);
    snprintf(dead, sizeof dead, "%s.dead", world.queue);
    ck_assert_uint_eq(ts_wait_depth(dead, 1, 10000), 1);
    ck_assert_ptr_null(ts_next_message(world.reader, 300));
    ts_broker_disconnect();
}
END_TEST

/* Two workers, 300 orders of one item each for a SKU with 50: exactly 50
 * reserved, 250 rejected, stock 0 (and the CHECK keeps it from ever going
 * below). */
START_TEST(test_flash_sale_never_oversells)
{
    static const char *const rows[] = {"FLASH,Flash sneaker,5999,EUR,50", NULL};
    enum { ORDERS = 300, STOCK = 50 };
    char order_id[37], name[128];
    struct db_conn *db = ts_db("inventory");
    import(rows);
    for (int i = 0; i < ORDERS; i++) {
        ts_uuid(order_id);
        json_t *body = json_pack("{s:s, s:s, s:o}", "order_id", order_id, "currency", "EUR",
                                 "items", items1("FLASH", 1));
        ts_publish(world.prefix, "inventory.reserve", order_id, "it-shop", body);
        json_decref(body);
    }
    ts_publish_flush();
    int reserved = 0, rejected = 0;
    for (json_t *a; reserved + rejected < ORDERS && (a = ts_next_message(world.reader, 20000));) {
        const char *type = json_string_value(json_object_get(a, "type"));
        reserved += strcmp(type, "inventory.reserved") == 0;
        rejected += strcmp(type, "inventory.rejected") == 0;
        json_decref(a);
    }
    ck_assert_int_eq(reserved, STOCK);
    ck_assert_int_eq(rejected, ORDERS - STOCK);
    ck_assert_int_eq(stock(db, "FLASH"), 0);
    ck_assert_int_eq(ts_db_number(db,
                                  "SELECT sum((l->>'quantity')::int) FROM reservations,"
                                  " jsonb_array_elements(lines) l WHERE l->>'sku' = $1",
                                  sku("FLASH", name, sizeof name), NULL),
                     STOCK);
    ck_assert_ptr_null(ts_next_message(world.reader, 300));
    ts_broker_disconnect();
    db_close(db);
}
END_TEST

static Suite *inventory_suite(void)
{
    Suite *s = suite_create("inventory");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reserve_prices_lines_and_takes_stock);
    tcase_add_test(tc, test_rejections_change_no_stock);
    tcase_add_test(tc, test_release_gives_stock_back_once);
    tcase_add_test(tc, test_commit_keeps_stock_taken);
    tcase_add_test(tc, test_bad_message_is_dead_lettered);
    tcase_add_test(tc, test_flash_sale_never_oversells);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(inventory_suite());
}
