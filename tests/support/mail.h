/* Mail the stack's SMTP server received (aiosmtpd writing a maildir at
 * <WARREN_RUN_DIR>/smtp/maildir/new): counting and reading the messages
 * that mention a text (an order id), for the notification and saga tests. */
#ifndef WARREN_TESTS_SUPPORT_MAIL_H
#define WARREN_TESTS_SUPPORT_MAIL_H

#include <time.h>

/* Messages received since `since` (file time, seconds) whose text contains
 * needle. When last is not NULL, the last one's text goes to *last (*last
 * starts NULL or holds an earlier text, which is freed; the caller frees
 * the result). Asserts the maildir exists. */
int ts_mail_count(const char *needle, time_t since, char **last);

/* Polls ts_mail_count until it reaches want or wait_ms passes, then waits
 * settle_ms more (for extras); returns the final count. */
int ts_mail_wait(const char *needle, time_t since, int want, int wait_ms, int settle_ms);

#endif
