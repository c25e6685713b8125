/* SMS over HTTP in Twilio's wire format: the form, basic auth with the
 * account's sid and token (both through http_form.c), and the sorting of
 * the answer (see sms.h). The token is wiped on destroy. */
#include "workers/sms.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http_form.h"

struct sms_client {
    struct hf_client *http;
    char *url; /* {base}/2010-04-01/Accounts/{sid}/Messages.json */
    char *sid;
    char *token; /* secret */
    char *from;
};

struct sms_client *sms_client_create(const struct sms_options *options, struct wr_error *err)
{
    struct hf_options http = {.user_agent = "warren-notification/" WARREN_VERSION,
                              .timeout_ms = options->timeout_ms,
                              .connect_timeout_ms = options->connect_timeout_ms};
    struct sms_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->url =
        hf_url(options->base_url, "/2010-04-01/Accounts/%s/Messages.json", options->account_sid);
    c->sid = strdup(options->account_sid);
    c->token = strdup(options->auth_token);
    c->from = strdup(options->from);
    c->http = hf_client_create(&http, err);
    if (!c->url || !c->sid || !c->token || !c->from || !c->http)
        goto fail;
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
    hf_client_destroy(client->http);
    if (client->token)
        explicit_bzero(client->token, strlen(client->token));
    free(client->token);
    free(client->sid);
    free(client->from);
    free(client->url);
    free(client);
}

/* A 2xx with the message's sid, or an error with Twilio's code and message. */
static enum sms_result sort_answer(const char *body, long status, char *sid, size_t sid_size,
                                   char *why, size_t why_size)
{
    json_t *root = json_loads(body, 0, NULL);
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
    const struct hf_field fields[] = {{"To", to}, {"From", client->from}, {"Body", body}};
    struct hf_answer answer;
    struct wr_error err;
    sid[0] = why[0] = '\0';
    char *form = hf_form_encode(client->http, fields, sizeof fields / sizeof fields[0]);
    if (!form) {
        snprintf(why, why_size, "SMS: out of memory");
        return SMS_TRANSIENT;
    }
    struct hf_request request = {
        .url = client->url, .form = form, .user = client->sid, .password = client->token};
    wr_status status = hf_post_form(client->http, &request, &answer, &err);
    free(form);
    if (status != WR_OK) {
        snprintf(why, why_size, "SMS gateway %s", err.message);
        return hf_transient(status) ? SMS_TRANSIENT : SMS_PERMANENT;
    }
    return sort_answer(answer.body, answer.status, sid, sid_size, why, why_size);
}
