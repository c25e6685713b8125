/* SMS over HTTP in Twilio's wire format with libcurl: the form, basic
 * auth with the account's sid and token, and the sorting of the answer
 * (see sms.h). The token goes to libcurl only and is wiped on destroy. */
#include "workers/sms.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX 16384

struct sms_client {
    CURL *curl;
    char *url; /* {base}/2010-04-01/Accounts/{sid}/Messages.json */
    char *sid;
    char *token; /* secret */
    char *from;
    long timeout_ms;
    long connect_timeout_ms;
    char reply[REPLY_MAX + 1];
    size_t reply_len;
};

static char *messages_url(const char *base, const char *sid)
{
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    size_t size = len + strlen(sid) + 64;
    char *url = malloc(size);
    if (url)
        snprintf(url, size, "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)len, base, sid);
    return url;
}

struct sms_client *sms_client_create(const struct sms_options *options, struct wr_error *err)
{
    struct sms_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->url = messages_url(options->base_url, options->account_sid);
    c->sid = strdup(options->account_sid);
    c->token = strdup(options->auth_token);
    c->from = strdup(options->from);
    c->curl = curl_easy_init();
    if (!c->url || !c->sid || !c->token || !c->from || !c->curl)
        goto fail;
    c->timeout_ms = (long)options->timeout_ms;
    c->connect_timeout_ms = (long)options->connect_timeout_ms;
    return c;
fail:
    sms_client_destroy(c);
    wr_error_set(err, WR_ERR_NOMEM, "SMS client: out of memory or libcurl failed");
    return NULL;
}

void sms_client_destroy(struct sms_client *client)
{
    if (!client)
        return;
    if (client->curl)
        curl_easy_cleanup(client->curl);
    if (client->token)
        explicit_bzero(client->token, strlen(client->token));
    free(client->token);
    free(client->sid);
    free(client->from);
    free(client->url);
    free(client);
}

static size_t collect(char *data, size_t size, size_t count, void *user)
{
    struct sms_client *c = user;
    size_t n = size * count, room = REPLY_MAX - c->reply_len;
    memcpy(c->reply + c->reply_len, data, n < room ? n : room);
    c->reply_len += n < room ? n : room;
    return n;
}

/* "To=..&From=..&Body=.." (caller frees); NULL if out of memory. */
static char *build_form(CURL *curl, const char *from, const char *to, const char *body)
{
    char *parts[3] = {curl_easy_escape(curl, to, 0), curl_easy_escape(curl, from, 0),
                      curl_easy_escape(curl, body, 0)};
    char *form = NULL;
    if (parts[0] && parts[1] && parts[2]) {
        size_t size = strlen(parts[0]) + strlen(parts[1]) + strlen(parts[2]) + 32;
        if ((form = malloc(size)))
            snprintf(form, size, "To=%s&From=%s&Body=%s", parts[0], parts[1], parts[2]);
    }
    for (int i = 0; i < 3; i++)
        curl_free(parts[i]);
    return form;
}

static CURLcode post(struct sms_client *c, const char *form, long *status,
                     char errbuf[CURL_ERROR_SIZE])
{
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (!headers)
        return CURLE_OUT_OF_MEMORY;
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    c->reply_len = 0;
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, c->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, c->sid);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, c->token);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "warren-notification/" WARREN_VERSION);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(curl);
    *status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    c->reply[c->reply_len] = '\0';
    curl_slist_free_all(headers);
    return rc;
}

/* A 2xx with the message's sid, or an error with Twilio's code and message. */
static enum sms_result sort_answer(struct sms_client *c, long status, char *sid, size_t sid_size,
                                   char *why, size_t why_size)
{
    json_t *root = json_loads(c->reply, 0, NULL);
    const char *message = json_string_value(json_object_get(root, "message"));
    json_t *code = json_object_get(root, "code");
    enum sms_result result = SMS_SENT;
    if (status >= 200 && status < 300) {
        const char *id = json_string_value(json_object_get(root, "sid"));
        snprintf(sid, sid_size, "%s", id ? id : "");
    } else {
        result = status >= 500 || status == 429 ? SMS_TRANSIENT : SMS_PERMANENT;
        snprintf(why, why_size, "SMS gateway answered HTTP %ld (code %lld): %s", status,
                 json_is_integer(code) ? (long long)json_integer_value(code) : 0LL,
                 message ? message : "(no message)");
    }
    json_decref(root);
    return result;
}

enum sms_result sms_send(struct sms_client *client, const char *to, const char *body, char *sid,
                         size_t sid_size, char *why, size_t why_size)
{
    char errbuf[CURL_ERROR_SIZE];
    long status = 0;
    sid[0] = why[0] = '\0';
    char *form = build_form(client->curl, client->from, to, body);
    if (!form) {
        snprintf(why, why_size, "SMS: out of memory");
        return SMS_TRANSIENT;
    }
    CURLcode rc = post(client, form, &status, errbuf);
    free(form);
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
        snprintf(why, why_size, "SMS gateway URL unusable: %s", curl_easy_strerror(rc));
        return SMS_PERMANENT;
    }
    if (rc != CURLE_OK) {
        snprintf(why, why_size, "SMS gateway %s: %s",
                 rc == CURLE_OPERATION_TIMEDOUT ? "timed out" : "unreachable",
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return SMS_TRANSIENT;
    }
    return sort_answer(client, status, sid, sid_size, why, why_size);
}
