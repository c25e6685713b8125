/* The notification service: tells the customer about an order's final
 * status (order.confirmed, order.rejected, order.payment_failed) by email
 * (email.c) and/or SMS (sms.c), as the order's `notify` asks. It only
 * consumes: a notification failure never changes the order.
 *
 * Why the markers: an email or SMS cannot be rolled back with the step's
 * transaction, and the step is rolled back on every retry. So before each
 * channel is sent, a `sending` row for (order, status, channel) is
 * committed on a connection of the service's own (autocommit), and after
 * the send it becomes `sent` or, when the attempt failed cleanly, `failed`.
 * A redelivery skips `sent`, sends `failed` again, and never resends a
 * `sending` row: that one crashed mid-send with an unknown outcome, so it
 * is marked `unknown` and logged for support (at most once in that narrow
 * window rather than twice). Email and SMS have a row each, so a retry of
 * one never repeats the other. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "workers/email.h"
#include "workers/http_form.h"
#include "workers/internal.h"
#include "workers/services.h"
#include "workers/sms.h"

static const struct db_migration notification_migrations[] = {
    {1, "CREATE TABLE notifications ("
        " order_id text NOT NULL,"
        " status text NOT NULL,"
        " channel text NOT NULL CHECK (channel IN ('email', 'sms')),"
        " state text NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'unknown')),"
        " recipient text NOT NULL,"
        " provider_id text,"
        " sends integer NOT NULL DEFAULT 1,"
        " attempt integer NOT NULL,"
        " last_error text,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " updated_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (order_id, status, channel));"},
};

struct notification {
    struct db_conn *marks; /* autocommit: markers outlive the step's rollback */
    struct email_client *email;
    struct sms_client *sms;
    char domain[128]; /* right-hand side of Message-IDs, from smtp.from */
};

/* One channel of one message. */
struct delivery {
    const struct wrk_message *msg;
    const char *status;    /* confirmed, rejected, payment_failed */
    const char *channel;   /* email, sms */
    const char *recipient; /* address or number */
};

/* Ranked: over several channels the message takes the highest. */
enum channel_outcome {
    CHANNEL_DONE,
    CHANNEL_PERMANENT,  /* retrying cannot help (an unusable address, a 5xx) */
    CHANNEL_RETRY,      /* transient on our side (database, memory) */
    CHANNEL_DOWNSTREAM, /* the SMTP server or SMS gateway failed transiently */
};

/* ---- setup -------------------------------------------------------------------- */

static struct email_options email_options(const struct cfg *cfg)
{
    const char *tls = cfg_str(cfg, CFG_SMTP_STARTTLS);
    return (struct email_options){
        .host = cfg_str(cfg, CFG_SMTP_HOST),
        .port = (int)cfg_int(cfg, CFG_SMTP_PORT),
        .from = cfg_str(cfg, CFG_SMTP_FROM),
        .starttls = strcmp(tls, "required") == 0  ? EMAIL_STARTTLS_REQUIRED
                    : strcmp(tls, "enabled") == 0 ? EMAIL_STARTTLS_ENABLED
                                                  : EMAIL_STARTTLS_OFF,
        .user = cfg_str(cfg, CFG_SMTP_USER),
        .password = cfg_str(cfg, CFG_SMTP_PASSWORD),
        .timeout_ms = cfg_int(cfg, CFG_SMTP_TIMEOUT),
    };
}

static struct sms_options sms_options(const struct cfg *cfg)
{
    return (struct sms_options){
        .base_url = cfg_str(cfg, CFG_SMS_GATEWAY_URL),
        .account_sid = cfg_str(cfg, CFG_SMS_ACCOUNT_SID),
        .auth_token = cfg_str(cfg, CFG_SMS_AUTH_TOKEN),
        .from = cfg_str(cfg, CFG_SMS_FROM),
        .timeout_ms = cfg_int(cfg, CFG_SMS_TIMEOUT),
        .connect_timeout_ms = cfg_int(cfg, CFG_SMS_CONNECT_TIMEOUT),
    };
}

static void notification_fini(void *state)
{
    struct notification *n = state;
    if (!n)
        return;
    sms_client_destroy(n->sms);
    email_client_destroy(n->email);
    db_close(n->marks);
    hf_global_cleanup();
    free(n);
}

static wr_status notification_init(const struct wrk_env *env, void **state, struct wr_error *err)
{
    const struct cfg *cfg = env->cfg;
    struct email_options email = email_options(cfg);
    struct sms_options sms = sms_options(cfg);
    if (!email_address_ok(email.from))
        return wr_error_set(err, WR_ERR_CONFIG, "smtp.from is not an email address");
    struct notification *n = calloc(1, sizeof *n);
    if (!n)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    if (hf_global_init(err) != WR_OK) {
        free(n);
        return err->code;
    }
    snprintf(n->domain, sizeof n->domain, "%s", strchr(email.from, '@') + 1);
    if (!(n->marks = db_open(cfg_str(cfg, CFG_DB_NOTIFICATION_URL), err)) ||
        !(n->email = email_client_create(&email, err)) ||
        !(n->sms = sms_client_create(&sms, err))) {
        notification_fini(n);
        return err->code;
    }
    wr_log(WR_LOG_INFO, "notification", "email via %s:%d (STARTTLS %s, AUTH %s)", email.host,
           email.port, cfg_str(cfg, CFG_SMTP_STARTTLS), email.user[0] ? "on" : "off");
    *state = n;
    return WR_OK;
}

/* ---- markers (on the service's own autocommit connection) ------------------------ */

enum claim { CLAIM_SEND, CLAIM_SENT, CLAIM_UNKNOWN };

/* Takes the right to send d: a new row, or a row whose last try failed. */
static wr_status claim(struct notification *n, const struct delivery *d, enum claim *out,
                       struct wr_error *err)
{
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%d", d->msg->attempt);
    const char *params[] = {d->msg->order_id, d->status, d->channel, d->recipient, attempt};
    struct db_result *res = NULL;
    wr_status status =
        db_exec(n->marks,
                "INSERT INTO notifications (order_id, status, channel, state, recipient, attempt)"
                " VALUES ($1, $2, $3, 'sending', $4, $5::integer)"
                " ON CONFLICT (order_id, status, channel) DO UPDATE SET state = 'sending',"
                " recipient = EXCLUDED.recipient, attempt = EXCLUDED.attempt,"
                " sends = notifications.sends + 1, updated_at = now()"
                " WHERE notifications.state = 'failed' RETURNING 1",
                5, params, &res, err);
    bool claimed = status == WR_OK && db_result_rows(res) == 1;
    db_result_free(res);
    if (status != WR_OK || claimed) {
        *out = CLAIM_SEND;
        return status;
    }
    status = db_exec(n->marks,
                     "UPDATE notifications SET state = 'unknown', updated_at = now()"
                     " WHERE order_id = $1 AND status = $2 AND channel = $3"
                     " AND state IN ('sending', 'unknown') RETURNING 1",
                     3, params, &res, err);
    *out = status == WR_OK && db_result_rows(res) == 1 ? CLAIM_UNKNOWN : CLAIM_SENT;
    db_result_free(res);
    return status;
}

/* Records how the send of d ended: "sent" (with the provider's id) or "failed". */
static void settle(struct notification *n, const struct delivery *d, const char *state,
                   const char *provider_id, const char *error)
{
    const char *params[] = {d->msg->order_id, d->status, d->channel, state, provider_id, error};
    struct wr_error err;
    if (db_exec(n->marks,
                "UPDATE notifications SET state = $4, provider_id = $5, last_error = $6,"
                " updated_at = now() WHERE order_id = $1 AND status = $2 AND channel = $3",
                6, params, NULL, &err) != WR_OK)
        wr_log(WR_LOG_ERROR, "notification",
               "order %s %s: %s %s but not recorded (%s); it will not be sent again",
               d->msg->order_id, d->status, d->channel, state, err.message);
}

/* ---- money and text ------------------------------------------------------------- */

/* Digits after the decimal point of an ISO 4217 currency. */
static int minor_digits(const char *currency)
{
    static const char zero[] =
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
    static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
    if (strlen(currency) != 3)
        return 2;
    return strstr(zero, currency) ? 0 : strstr(three, currency) ? 3 : 2;
}

/* "EUR 25.98" for 2598 minor units of EUR. */
static void format_money(json_t *amount, const char *currency, char *out, size_t size)
{
    long long minor = json_is_integer(amount) ? (long long)json_integer_value(amount) : 0;
    int digits = minor_digits(currency);
    long long scale = digits == 0 ? 1 : digits == 3 ? 1000 : 100;
    unsigned long long abs = minor < 0 ? (unsigned long long)-minor : (unsigned long long)minor;
    if (digits == 0)
        snprintf(out, size, "%s %s%llu", currency, minor < 0 ? "-" : "", abs);
    else
        snprintf(out, size, "%s %s%llu.%0*llu", currency, minor < 0 ? "-" : "",
                 abs / (unsigned long long)scale, digits, abs % (unsigned long long)scale);
}

static const char *str(json_t *object, const char *key)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : "";
}

/* The order's lines (priced) or, before pricing, its items. */
static void write_lines(FILE *out, json_t *order, const char *currency)
{
    json_t *lines = json_object_get(order, "lines");
    bool priced = json_is_array(lines);
    json_t *line;
    size_t i;
    json_array_foreach(priced ? lines : json_object_get(order, "items"), i, line)
    {
        long long quantity = (long long)json_integer_value(json_object_get(line, "quantity"));
        const char *name = str(line, "name");
        fprintf(out, "  %lld x %s%s%s%s", quantity, name, name[0] ? " (" : "", str(line, "sku"),
                name[0] ? ")" : "");
        if (priced) {
            char money[64];
            format_money(json_object_get(line, "line_total"), currency, money, sizeof money);
            fprintf(out, "  %s", money);
        }
        fputc('\n', out);
    }
    if (priced && json_is_integer(json_object_get(order, "total"))) {
        char total[64];
        format_money(json_object_get(order, "total"), currency, total, sizeof total);
        fprintf(out, "Total: %s\n", total);
    }
}

static const char *const email_intro[] = {
    "thank you for your order: the payment went through and your order is\nconfirmed.\n",
    "we are sorry: we could not accept your order.\n",
    "your payment did not go through, so your order could not be completed.\n",
};
static const char *const email_outro[] = {
    "We will let you know when it ships.\n",
    "Nothing was charged.\n",
    "Nothing was charged and the items are no longer held for you. You are welcome\n"
    "to order again with another payment method.\n",
};

/* The email's text for status index kind (0 confirmed, 1 rejected, 2
 * payment_failed). Caller frees; NULL if out of memory. */
static char *email_text(json_t *order, const char *order_id, int kind)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    const char *name = str(json_object_get(order, "customer"), "name");
    const char *reason = str(order, "reason");
    fprintf(out, "Hello%s%s,\n\n%s", name[0] ? " " : "", name, email_intro[kind]);
    if (kind > 0 && reason[0])
        fprintf(out, "Reason: %s\n", reason);
    fprintf(out, "\nOrder: %s\n", order_id);
    write_lines(out, order, str(order, "currency"));
    fprintf(out, "\n%s\n-- \nwarren order service\n", email_outro[kind]);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Cuts text to at most max bytes without splitting a UTF-8 character. */
static void utf8_cut(char *text, size_t max)
{
    if (strlen(text) <= max)
        return;
    while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
        max--;
    text[max] = '\0';
}

static void sms_text(json_t *order, const char *order_id, int kind, char *out, size_t size)
{
    char total[64], reason[161];
    format_money(json_object_get(order, "total"), str(order, "currency"), total, sizeof total);
    snprintf(reason, sizeof reason, "%s", str(order, "reason"));
    utf8_cut(reason, 120);
    if (kind == 0)
        snprintf(out, size, "Your order %s is confirmed. Total: %s. Thank you!", order_id, total);
    else if (kind == 1)
        snprintf(out, size, "Sorry, your order %s could not be accepted: %s. Nothing was charged.",
                 order_id, reason);
    else
        snprintf(out, size, "The payment for your order %s failed: %s. Nothing was charged.",
                 order_id, reason);
}

/* ---- sending one channel --------------------------------------------------------- */

static const char *const statuses[] = {"confirmed", "rejected", "payment_failed"};
static const char *const subjects[] = {"Your order %s is confirmed",
                                       "Your order %s could not be accepted",
                                       "The payment for your order %s failed"};

static enum channel_outcome failed(struct notification *n, const struct delivery *d,
                                   enum channel_outcome outcome, const char *error,
                                   struct wr_error *why)
{
    settle(n, d, "failed", NULL, error);
    wr_error_set(why, WR_ERR_IO, "%s: %s", d->channel, error);
    return outcome;
}

static enum channel_outcome send_email(struct notification *n, const struct delivery *d, int kind,
                                       struct wr_error *why)
{
    char subject[160], message_id[300], error[400];
    snprintf(subject, sizeof subject, subjects[kind], d->msg->order_id);
    snprintf(message_id, sizeof message_id, "order-%s.%s@%s", d->msg->order_id, d->status,
             n->domain);
    char *text = email_text(d->msg->body, d->msg->order_id, kind);
    if (!text)
        return failed(n, d, CHANNEL_RETRY, "out of memory", why);
    struct email email = {
        .to = d->recipient, .subject = subject, .message_id = message_id, .text = text};
    enum email_result result = email_send(n->email, &email, error, sizeof error);
    free(text);
    if (result != EMAIL_SENT)
        return failed(n, d, result == EMAIL_PERMANENT ? CHANNEL_PERMANENT : CHANNEL_DOWNSTREAM,
                      error, why);
    wrk_crash_point("notification", "after_email");
    settle(n, d, "sent", message_id, NULL);
    wr_log(WR_LOG_INFO, "notification", "order %s %s: email sent (Message-ID <%s>)",
           d->msg->order_id, d->status, message_id);
    return CHANNEL_DONE;
}

static enum channel_outcome send_sms(struct notification *n, const struct delivery *d, int kind,
                                     struct wr_error *why)
{
    char text[480], sid[128], error[400];
    sms_text(d->msg->body, d->msg->order_id, kind, text, sizeof text);
    enum sms_result result =
        sms_send(n->sms, d->recipient, text, sid, sizeof sid, error, sizeof error);
    if (result != SMS_SENT)
        return failed(n, d, result == SMS_PERMANENT ? CHANNEL_PERMANENT : CHANNEL_DOWNSTREAM, error,
                      why);
    wrk_crash_point("notification", "after_sms");
    settle(n, d, "sent", sid, NULL);
    wr_log(WR_LOG_INFO, "notification", "order %s %s: SMS sent (%s)", d->msg->order_id, d->status,
           sid);
    return CHANNEL_DONE;
}

/* Sends d unless its marker says it was sent (or may have been). */
static enum channel_outcome deliver(struct notification *n, const struct delivery *d, int kind,
                                    struct wr_error *why)
{
    enum claim claimed;
    struct wr_error err;
    if (claim(n, d, &claimed, &err) != WR_OK) {
        wr_error_set(why, err.code, "notification database: %s", err.message);
        return CHANNEL_RETRY;
    }
    if (claimed == CLAIM_SENT)
        return CHANNEL_DONE;
    if (claimed == CLAIM_UNKNOWN) {
        wr_log(WR_LOG_WARN, "notification",
               "order %s %s: an earlier %s send stopped half-way (crash); not sending again, "
               "support may need to check whether the customer got it",
               d->msg->order_id, d->status, d->channel);
        return CHANNEL_DONE;
    }
    bool email = strcmp(d->channel, "email") == 0;
    return email ? send_email(n, d, kind, why) : send_sms(n, d, kind, why);
}

/* ---- the step ----------------------------------------------------------------------- */

static bool phone_ok(const char *phone)
{
    size_t digits = strspn(phone + (phone[0] == '+'), "0123456789");
    return phone[0] == '+' && phone[1 + digits] == '\0' && digits >= 8 && digits <= 15;
}

/* Fills d for channel, or says why the order cannot use it. */
static const char *prepare(const struct wrk_message *msg, const char *channel, struct delivery *d)
{
    json_t *customer = json_object_get(msg->body, "customer");
    d->channel = channel;
    if (strcmp(channel, "email") == 0) {
        d->recipient = str(customer, "email");
        return email_address_ok(d->recipient) ? NULL : "customer.email is missing or unusable";
    }
    if (strcmp(channel, "sms") == 0) {
        d->recipient = str(customer, "phone");
        return phone_ok(d->recipient) ? NULL : "customer.phone is missing or not E.164";
    }
    return "notify holds an unknown channel";
}

static int kind_of(const char *type)
{
    static const char *const types[] = {"order.confirmed", "order.rejected",
                                        "order.payment_failed"};
    for (int i = 0; i < 3; i++)
        if (strcmp(type, types[i]) == 0)
            return i;
    return -1;
}

/* One channel of msg (a JSON string of `notify`). */
static enum channel_outcome notify_one(struct notification *n, const struct wrk_message *msg,
                                       int kind, json_t *channel, struct wr_error *why)
{
    struct delivery d = {.msg = msg, .status = statuses[kind]};
    const char *name = json_is_string(channel) ? json_string_value(channel) : "?";
    const char *unusable = prepare(msg, name, &d);
    if (!unusable)
        return deliver(n, &d, kind, why);
    wr_error_set(why, WR_ERR_INVALID, "%s", unusable);
    return CHANNEL_PERMANENT;
}

static enum wrk_outcome notification_handle(void *state, const struct wrk_message *msg,
                                            struct wrk_step *step, struct wr_error *why)
{
    int kind = kind_of(msg->type);
    json_t *notify = json_object_get(msg->body, "notify");
    json_t *fallback = json_pack("[s]", "email"), *channel;
    size_t i;
    enum channel_outcome worst = CHANNEL_DONE;
    const char *downstream = NULL;
    /* the markers live on their own connection (see the top of this file):
     * step only names a failing downstream */
    if (kind < 0 || (notify && !json_is_array(notify) && !json_is_null(notify))) {
        json_decref(fallback);
        return wrk_bad_message(why, "not an order summary this service handles");
    }
    /* every channel is tried; the highest-ranked failure speaks for the message */
    json_array_foreach(json_is_array(notify) ? notify : fallback, i, channel)
    {
        struct wr_error channel_why;
        enum channel_outcome result = notify_one(state, msg, kind, channel, &channel_why);
        if (result > worst) {
            *why = channel_why;
            worst = result;
            if (result == CHANNEL_DOWNSTREAM) /* then channel is "email" or "sms" */
                downstream =
                    strcmp(json_string_value(channel), "sms") == 0 ? "SMS gateway" : "SMTP server";
        }
    }
    json_decref(fallback);
    if (worst == CHANNEL_DOWNSTREAM)
        return wrk_step_downstream_failed(step, downstream);
    return worst == CHANNEL_RETRY       ? WRK_RETRY
           : worst == CHANNEL_PERMANENT ? WRK_PERMANENT
                                        : WRK_DONE;
}

const struct wrk_service wrk_notification_service = {
    .name = "notification",
    .migrations = notification_migrations,
    .migration_count = sizeof notification_migrations / sizeof notification_migrations[0],
    .init = notification_init,
    .handle = notification_handle,
    .fini = notification_fini,
};
