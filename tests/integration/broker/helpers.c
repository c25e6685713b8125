/* Helpers shared by broker/'s integration tests (see helpers.h). */
#include "tests/integration/broker/helpers.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/broker.h"
#include "tests/support/support.h"

static char run_prefix[64];

const char *tb_name(const char *what, char *out, size_t out_size)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s-%s", run_prefix, what);
    return ts_unique_name(prefix, out, out_size);
}

void tb_record_outcome(void *publish_ctx, wr_status result, const struct wr_error *detail,
                       void *user)
{
    struct tb_outcomes *o = user;
    size_t i = (size_t)(uintptr_t)publish_ctx;
    ck_assert_uint_lt(i, TB_MAX_OUTCOMES);
    ck_assert_ptr_nonnull(detail);
    o->calls[i]++;
    o->status[i] = result;
    o->reply_code[i] = detail->reply_code;
    memcpy(o->message[i], detail->message, sizeof o->message[i] - 1);
    o->message[i][sizeof o->message[i] - 1] = '\0';
    o->total_calls++;
}

struct mq_message tb_message(const char *exchange, const char *routing_key, const char *id)
{
    static const char body[] = "{\"hello\":\"world\"}";
    struct mq_message msg = {.exchange = exchange,
                             .routing_key = routing_key,
                             .body = body,
                             .body_len = sizeof body - 1,
                             .message_id = id,
                             .content_type = "application/json",
                             .persistent = true};
    return msg;
}

void tb_publish(struct mq_publisher *pub, const struct mq_message *msg, size_t i)
{
    struct wr_error err;
    wr_status status = mq_publish(pub, msg, (void *)(uintptr_t)i, &err);
    ck_assert_msg(status == WR_OK, "publish %zu: %s", i, err.message);
}

/* ---- the fixture ---------------------------------------------------------- */

static bool ours(const char *name)
{
    return name && strncmp(name, run_prefix, strlen(run_prefix)) == 0;
}

static void sweep(void)
{
    struct mq_live_state live;
    struct wr_error err;
    if (mq_live_state_fetch(ts_management_url(), "/", &live, &err) != WR_OK) {
        fprintf(stderr, "sweep: %s\n", err.message);
        return;
    }
    struct mq_conn_options options = {.url = ts_broker_url()};
    struct mq_conn *conn = mq_conn_open(&options, &err);
    for (size_t i = 0; conn && i < live.queue_count; i++) {
        if (ours(live.queues[i].spec.name))
            (void)mq_delete_queue(conn, live.queues[i].spec.name, NULL);
    }
    for (size_t i = 0; conn && i < live.exchange_count; i++) {
        if (ours(live.exchanges[i].spec.name))
            (void)mq_delete_exchange(conn, live.exchanges[i].spec.name, NULL);
    }
    mq_conn_close(conn);
    mq_live_state_free(&live);
}

void tb_setup(void)
{
    snprintf(run_prefix, sizeof run_prefix, "wrtest-broker-%ld", (long)getpid());
}

void tb_teardown(void)
{
    sweep();
}
