/* The read side of the RabbitMQ management HTTP API: fetches a vhost's
 * exchanges, queues and bindings (libcurl), parses them (jansson) and
 * decodes the queue x-arguments warren sets back into mq_queue_spec. */
#include "broker/internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 10000L
#define MAX_RESPONSE_BYTES (64u * 1024 * 1024)

/* ---- HTTP ---------------------------------------------------------------- */

struct response {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct response *r = user;
    size_t n = size * nmemb;
    if (r->len + n > MAX_RESPONSE_BYTES)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    char *grown = realloc(r->data, r->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + r->len, ptr, n);
    r->len += n;
    grown[r->len] = '\0';
    r->data = grown;
    return n;
}

static wr_status http_status_error(long code, const char *redacted, const struct response *r,
                                   struct wr_error *err)
{
    if (code == 401)
        return wr_error_set(err, WR_ERR_HTTP,
                            "GET %s: 401 Unauthorized (check the user and password in the "
                            "management URL)",
                            redacted);
    if (code == 404)
        return wr_error_set(err, WR_ERR_NOT_FOUND, "GET %s: 404 Not Found (unknown vhost?)",
                            redacted);
    return wr_error_set(err, WR_ERR_HTTP, "GET %s: HTTP %ld: %.200s", redacted, code,
                        r->data ? r->data : "");
}

static wr_status perform(CURL *curl, const char *url, struct response *r, struct wr_error *err)
{
    char redacted[1024];
    char curl_error[CURL_ERROR_SIZE] = "";
    wr_redact_url(url, redacted, sizeof redacted);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "warren");
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        return wr_error_set(err, WR_ERR_HTTP, "GET %s: %s", redacted,
                            curl_error[0] ? curl_error : curl_easy_strerror(rc));
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299)
        return http_status_error(code, redacted, r, err);
    return WR_OK;
}

/* GET {base}/api/{what}/{vhost} and parse the JSON answer into *out. */
static wr_status get_json(const char *base, const char *what, const char *vhost, json_t **out,
                          struct wr_error *err)
{
    struct response r = {0};
    char *escaped = NULL;
    wr_status status = WR_OK;
    CURL *curl = curl_easy_init();
    if (!curl) {
        status = wr_error_set(err, WR_ERR_NOMEM, "cannot initialise libcurl");
        goto out;
    }
    escaped = curl_easy_escape(curl, vhost, 0);
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/')
        base_len--;
    char url[2048];
    snprintf(url, sizeof url, "%.*s/api/%s/%s", (int)base_len, base, what,
             escaped ? escaped : "%2F");
    status = perform(curl, url, &r, err);
    if (status != WR_OK)
        goto out;
    json_error_t jerr;
    *out = json_loadb(r.data ? r.data : "", r.len, 0, &jerr);
    if (!*out)
        status = wr_error_set(err, WR_ERR_HTTP, "management API /api/%s: invalid JSON: %s", what,
                              jerr.text);
    else if (!json_is_array(*out))
        status = wr_error_set(err, WR_ERR_HTTP, "management API /api/%s: not a JSON array", what);
out:
    curl_free(escaped);
    if (curl)
        curl_easy_cleanup(curl);
    free(r.data);
    return status;
}

/* ---- JSON helpers --------------------------------------------------------- */

static const char *string_field(const json_t *object, const char *key)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : "";
}

static uint64_t count_field(const json_t *object, const char *key)
{
    json_int_t value = json_integer_value(json_object_get(object, key));
    return value > 0 ? (uint64_t)value : 0;
}

/* message_stats.<key>_details.rate, or 0 before the broker has a sample. */
static double rate_field(const json_t *queue, const char *key)
{
    char details[64];
    snprintf(details, sizeof details, "%s_details", key);
    const json_t *stats = json_object_get(queue, "message_stats");
    return json_number_value(json_object_get(json_object_get(stats, details), "rate"));
}

static wr_status dup_string(char **out, const char *value, struct wr_error *err)
{
    *out = strdup(value);
    return *out ? WR_OK : wr_error_set(err, WR_ERR_NOMEM, "out of memory");
}

/* ---- exchanges -------------------------------------------------------------- */

static bool is_builtin_exchange(const char *name)
{
    return name[0] == '\0' || strncmp(name, "amq.", 4) == 0;
}

static wr_status parse_exchanges(const json_t *list, struct mq_live_state *out,
                                 struct wr_error *err)
{
    out->exchanges = calloc(json_array_size(list) + 1, sizeof *out->exchanges);
    if (!out->exchanges)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *name = string_field(item, "name");
        const char *type = string_field(item, "type");
        if (is_builtin_exchange(name))
            continue;
        struct mq_live_exchange *x = &out->exchanges[out->exchange_count];
        if (mq_exchange_type_parse(type, &x->spec.type) != 0) {
            wr_log(WR_LOG_WARN, "broker", "exchange '%s' has type '%s' warren does not model", name,
                   type);
            continue;
        }
        if (dup_string(&x->spec.name, name, err) != WR_OK)
            return WR_ERR_NOMEM;
        x->durable = json_is_true(json_object_get(item, "durable"));
        x->auto_delete = json_is_true(json_object_get(item, "auto_delete"));
        out->exchange_count++;
    }
    return WR_OK;
}

/* ---- queue arguments ---------------------------------------------------------- */

/* Each decoder stores value into spec and returns true, or returns false
 * when warren's model cannot represent it (it then goes to
 * other_arguments, so nothing the broker holds is hidden). */
typedef bool (*arg_decoder)(const json_t *value, struct mq_queue_spec *spec);

static bool decode_type(const json_t *value, struct mq_queue_spec *spec)
{
    enum mq_queue_type type;
    /* the queue object's "type" is authoritative; this only has to agree */
    return mq_queue_type_parse(json_string_value(value), &type) == 0 && type == spec->type;
}

static bool decode_ttl(const json_t *value, struct mq_queue_spec *spec)
{
    if (!json_is_integer(value) || json_integer_value(value) <= 0)
        return false;
    spec->message_ttl_ms = json_integer_value(value);
    return true;
}

static bool decode_max_length(const json_t *value, struct mq_queue_spec *spec)
{
    if (!json_is_integer(value) || json_integer_value(value) <= 0)
        return false;
    spec->max_length = json_integer_value(value);
    return true;
}

static bool decode_dlx(const json_t *value, struct mq_queue_spec *spec)
{
    const char *text = json_string_value(value);
    return text && (spec->dead_letter_exchange = strdup(text)) != NULL;
}

static bool decode_dlrk(const json_t *value, struct mq_queue_spec *spec)
{
    const char *text = json_string_value(value);
    return text && (spec->dead_letter_routing_key = strdup(text)) != NULL;
}

static bool decode_dl_strategy(const json_t *value, struct mq_queue_spec *spec)
{
    const char *text = json_string_value(value);
    if (!text || strcmp(text, mq__dl_strategy_name(MQ_DL_AT_LEAST_ONCE)) != 0)
        return false;
    spec->dl_strategy = MQ_DL_AT_LEAST_ONCE;
    return true;
}

static bool decode_overflow(const json_t *value, struct mq_queue_spec *spec)
{
    const char *text = json_string_value(value);
    if (!text || strcmp(text, mq__overflow_name(MQ_OVERFLOW_REJECT_PUBLISH)) != 0)
        return false;
    spec->overflow = MQ_OVERFLOW_REJECT_PUBLISH;
    return true;
}

static const struct {
    const char *key;
    arg_decoder decode;
} known_arguments[] = {
    {"x-queue-type", decode_type},
    {"x-message-ttl", decode_ttl},
    {"x-dead-letter-exchange", decode_dlx},
    {"x-dead-letter-routing-key", decode_dlrk},
    {"x-dead-letter-strategy", decode_dl_strategy},
    {"x-overflow", decode_overflow},
    {"x-max-length", decode_max_length},
};

static bool decode_known(const char *key, const json_t *value, struct mq_queue_spec *spec)
{
    for (size_t i = 0; i < sizeof known_arguments / sizeof known_arguments[0]; i++) {
        if (strcmp(key, known_arguments[i].key) == 0)
            return known_arguments[i].decode(value, spec);
    }
    return false;
}

static wr_status decode_arguments(const json_t *arguments, struct mq_live_queue *q,
                                  struct wr_error *err)
{
    json_t *other = json_object();
    if (!other)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    const char *key;
    json_t *value;
    wr_status status = WR_OK;
    json_object_foreach((json_t *)arguments, key, value)
    {
        if (!decode_known(key, value, &q->spec))
            json_object_set(other, key, value);
    }
    if (json_object_size(other) > 0) {
        q->other_arguments = json_dumps(other, JSON_COMPACT | JSON_SORT_KEYS);
        if (!q->other_arguments)
            status = wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    }
    json_decref(other);
    return status;
}

/* ---- queues and bindings -------------------------------------------------------- */

static wr_status parse_queue(const json_t *item, struct mq_live_queue *q, bool *modelled,
                             struct wr_error *err)
{
    const char *name = string_field(item, "name");
    const char *type = string_field(item, "type");
    *modelled = mq_queue_type_parse(type, &q->spec.type) == 0;
    if (!*modelled) {
        wr_log(WR_LOG_WARN, "broker", "queue '%s' has type '%s' warren does not model", name, type);
        return WR_OK;
    }
    if (dup_string(&q->spec.name, name, err) != WR_OK)
        return WR_ERR_NOMEM;
    q->durable = json_is_true(json_object_get(item, "durable"));
    q->messages = count_field(item, "messages");
    q->messages_unacked = count_field(item, "messages_unacknowledged");
    q->consumers = count_field(item, "consumers");
    q->redelivered = count_field(json_object_get(item, "message_stats"), "redeliver");
    q->publish_rate = rate_field(item, "publish");
    q->deliver_rate = rate_field(item, "deliver_get");
    return decode_arguments(json_object_get(item, "arguments"), q, err);
}

static wr_status parse_queues(const json_t *list, struct mq_live_state *out, struct wr_error *err)
{
    out->queues = calloc(json_array_size(list) + 1, sizeof *out->queues);
    if (!out->queues)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        bool modelled;
        struct mq_live_queue *q = &out->queues[out->queue_count];
        wr_status status = parse_queue(item, q, &modelled, err);
        if (modelled)
            out->queue_count++; /* counted even on failure, so it is freed */
        if (status != WR_OK)
            return status;
    }
    return WR_OK;
}

static wr_status parse_bindings(const json_t *list, struct mq_live_state *out, struct wr_error *err)
{
    out->bindings = calloc(json_array_size(list) + 1, sizeof *out->bindings);
    if (!out->bindings)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *source = string_field(item, "source");
        if (source[0] == '\0' || strcmp(string_field(item, "destination_type"), "queue") != 0)
            continue;
        struct mq_binding_spec *b = &out->bindings[out->binding_count++];
        if (dup_string(&b->exchange, source, err) != WR_OK ||
            dup_string(&b->queue, string_field(item, "destination"), err) != WR_OK ||
            dup_string(&b->routing_key, string_field(item, "routing_key"), err) != WR_OK)
            return WR_ERR_NOMEM;
    }
    return WR_OK;
}

typedef wr_status (*list_parser)(const json_t *list, struct mq_live_state *out,
                                 struct wr_error *err);

static wr_status fetch_list(const char *base, const char *what, const char *vhost,
                            list_parser parse, struct mq_live_state *out, struct wr_error *err)
{
    json_t *list = NULL;
    wr_status status = get_json(base, what, vhost, &list, err);
    if (status == WR_OK)
        status = parse(list, out, err);
    json_decref(list);
    return status;
}

wr_status mq_live_state_fetch(const char *management_url, const char *vhost,
                              struct mq_live_state *out, struct wr_error *err)
{
    memset(out, 0, sizeof *out);
    if (!management_url)
        return wr_error_set(err, WR_ERR_INVALID, "no management URL");
    const char *v = vhost ? vhost : "/";
    wr_status status = fetch_list(management_url, "exchanges", v, parse_exchanges, out, err);
    if (status == WR_OK)
        status = fetch_list(management_url, "queues", v, parse_queues, out, err);
    if (status == WR_OK)
        status = fetch_list(management_url, "bindings", v, parse_bindings, out, err);
    if (status != WR_OK)
        mq_live_state_free(out);
    return status;
}

void mq_live_state_free(struct mq_live_state *state)
{
    if (!state)
        return;
    for (size_t i = 0; i < state->exchange_count; i++)
        mq_exchange_spec_clear(&state->exchanges[i].spec);
    for (size_t i = 0; i < state->queue_count; i++) {
        mq_queue_spec_clear(&state->queues[i].spec);
        free(state->queues[i].other_arguments);
    }
    for (size_t i = 0; i < state->binding_count; i++)
        mq_binding_spec_clear(&state->bindings[i]);
    free(state->exchanges);
    free(state->queues);
    free(state->bindings);
    memset(state, 0, sizeof *state);
}
