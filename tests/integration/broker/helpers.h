/* Helpers of broker/'s integration tests, on top of tests/support/: names
 * unique to this test run, a recorder for publish outcomes, test messages,
 * and a sweep that deletes every queue and exchange the run created. */
#ifndef WARREN_TESTS_BROKER_HELPERS_H
#define WARREN_TESTS_BROKER_HELPERS_H

#include <stddef.h>

#include "broker/broker.h"
#include "tests/support/broker.h"

/* Unchecked fixture (runs in the check parent): fixes the run's name
 * prefix, and at teardown deletes whatever carries it. */
void tb_setup(void);
void tb_teardown(void);

/* A name "<run prefix>-<what>-<pid>-<n>" for a queue or exchange. */
const char *tb_name(const char *what, char *out, size_t out_size);

/* Publish outcomes, indexed by the publish_ctx (an index cast to a pointer). */
#define TB_MAX_OUTCOMES 8192
struct tb_outcomes {
    unsigned calls[TB_MAX_OUTCOMES];
    wr_status status[TB_MAX_OUTCOMES];
    int reply_code[TB_MAX_OUTCOMES];
    char message[TB_MAX_OUTCOMES][200]; /* detail->message, truncated */
    size_t total_calls;
};

/* An mq_confirm_fn recording into the struct tb_outcomes given as user. */
void tb_record_outcome(void *publish_ctx, wr_status result, const struct wr_error *detail,
                       void *user);

/* A message to queue via the default exchange with message_id "<id>". */
struct mq_message tb_message(const char *exchange, const char *routing_key, const char *id);

/* Publishes msg with ctx index i; fails the test if mq_publish fails. */
void tb_publish(struct mq_publisher *pub, const struct mq_message *msg, size_t i);

#endif
