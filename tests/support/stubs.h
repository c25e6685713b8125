/* The stub gateways of tests/stubs/ (payment in Stripe's wire format, SMS
 * in Twilio's): a private one started by the test on a free port, or the
 * stack's (ts_payment_gateway_url, ts_sms_gateway_url); their control and
 * inspection API (/_control, /_stats, /_messages) through http.h. */
#ifndef WARREN_TESTS_SUPPORT_STUBS_H
#define WARREN_TESTS_SUPPORT_STUBS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* Starts tests/stubs/<script> (Python, stdlib only) on a free port with
 * one optional extra argument, waits until GET /_stats answers, writes its
 * base URL ("http://127.0.0.1:PORT") into base and returns its pid
 * (tracked; stop it with ts_stop). Its log goes to
 * <scratch>/<script>-<test pid>-<n>.log (ts_scratch_log). Asserts on failure. */
pid_t ts_stub_start(const char *script, const char *extra_arg, char *base, size_t size);

/* A payment stub of the test's own, and the WARREN_* variables that point
 * the payment workers it starts at it: the gateway URL, the client's
 * timeout (e.g. "1s") and the default API key. Returns its pid. */
pid_t ts_payment_stub_start(const char *timeout, char *base, size_t size);

/* POSTs command (JSON text) to the stub's /_control; asserts 200. */
void ts_stub_control(const char *base, const char *command);

/* A number of the stub's GET /_stats ("charges", "requests", ...). */
long ts_stub_stat(const char *base, const char *name);

/* Charges the payment stub made for order_id (its succeeded intents whose
 * metadata[order_id] is order_id). */
int ts_stub_charges_for(const char *base, const char *order_id);

/* The messages the SMS stub accepted whose body contains needle, oldest
 * first: an array of {"sid", "to", "from", "body"} (the caller frees it
 * with json_decref). */
json_t *ts_sms_messages(const char *base, const char *needle);

/* Polls the number of ts_sms_messages until it reaches want or wait_ms
 * passes, then waits settle_ms more (for extras); returns the final count. */
int ts_sms_wait(const char *base, const char *needle, int want, int wait_ms, int settle_ms);

#endif
