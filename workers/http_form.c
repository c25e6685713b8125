/* Form POSTs over libcurl for the gateway clients (see http_form.h): the
 * reused handle, the reply collector, the headers of one request (wiped
 * after use, as they may hold a key) and the sorting of transport
 * failures into worth-retrying or never-working. */
#include "workers/http_form.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hf_client {
    CURL *curl;
    char *user_agent;
    long timeout_ms;
    long connect_timeout_ms;
    size_t reply_len;
    char reply[HF_REPLY_MAX + 1];
};

wr_status hf_global_init(struct wr_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return wr_error_set(err, WR_ERR_NOMEM, "libcurl did not initialise");
    return WR_OK;
}

void hf_global_cleanup(void)
{
    curl_global_cleanup();
}

struct hf_client *hf_client_create(const struct hf_options *options, struct wr_error *err)
{
    struct hf_client *c = calloc(1, sizeof *c);
    if (!c || !(c->user_agent = strdup(options->user_agent)) || !(c->curl = curl_easy_init())) {
        hf_client_destroy(c);
        wr_error_set(err, WR_ERR_NOMEM, "HTTP client: out of memory or libcurl failed");
        return NULL;
    }
    c->timeout_ms = (long)options->timeout_ms;
    c->connect_timeout_ms = (long)options->connect_timeout_ms;
    return c;
}

void hf_client_destroy(struct hf_client *client)
{
    if (!client)
        return;
    if (client->curl)
        curl_easy_cleanup(client->curl);
    free(client->user_agent);
    free(client);
}

char *hf_url(const char *base, const char *path_fmt, ...)
{
    va_list ap;
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    va_start(ap, path_fmt);
    int n = vsnprintf(NULL, 0, path_fmt, ap);
    va_end(ap);
    char *url = n >= 0 ? malloc(len + (size_t)n + 1) : NULL;
    if (!url)
        return NULL;
    memcpy(url, base, len);
    va_start(ap, path_fmt);
    vsnprintf(url + len, (size_t)n + 1, path_fmt, ap);
    va_end(ap);
    return url;
}

/* ---- the form --------------------------------------------------------------- */

/* Appends "name=value" (with a '&' before all but the first) to *form. */
static bool append_field(char **form, size_t *len, const char *name, const char *value)
{
    size_t add = (*len ? 1 : 0) + strlen(name) + 1 + strlen(value);
    char *bigger = realloc(*form, *len + add + 1);
    if (!bigger)
        return false;
    *form = bigger;
    *len += (size_t)snprintf(bigger + *len, add + 1, "%s%s=%s", *len ? "&" : "", name, value);
    return true;
}

char *hf_form_encode(struct hf_client *client, const struct hf_field *fields, size_t count)
{
    char *form = calloc(1, 1);
    size_t len = 0;
    for (size_t i = 0; form && i < count; i++) {
        char *value = curl_easy_escape(client->curl, fields[i].value, 0);
        if (!value || !append_field(&form, &len, fields[i].name, value)) {
            free(form);
            form = NULL;
        }
        curl_free(value);
    }
    return form;
}

/* ---- the request -------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t count, void *user)
{
    struct hf_client *c = user;
    size_t n = size * count, room = HF_REPLY_MAX - c->reply_len;
    memcpy(c->reply + c->reply_len, data, n < room ? n : room);
    c->reply_len += n < room ? n : room;
    return n;
}

/* Wipes the header lines (an Authorization key among them) and frees them. */
static void free_headers(struct curl_slist *headers)
{
    for (struct curl_slist *h = headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(headers);
}

/* Appends lines (NULL-ended) to *headers; false when out of memory. */
static bool append_lines(struct curl_slist **headers, const char *const *lines)
{
    for (; lines && *lines; lines++) {
        struct curl_slist *h = curl_slist_append(*headers, *lines);
        if (!h)
            return false;
        *headers = h;
    }
    return true;
}
static void set_options(struct hf_client *c, const struct hf_request *request,
                        struct curl_slist *headers, char *errbuf)
{
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (request->user) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, request->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, request->password);
    }
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->form);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* No answer: a URL libcurl cannot use never works; a timeout or a
 * connection problem may work later. */
static wr_status transport_failure(CURLcode rc, const char *errbuf, struct wr_error *err)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return wr_error_set(err, WR_ERR_CONFIG, "URL unusable: %s", detail);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return wr_error_set(err, WR_ERR_TIMEOUT, "timed out: %s", detail);
    return wr_error_set(err, WR_ERR_CONNECTION, "unreachable: %s", detail);
}

wr_status hf_post_form(struct hf_client *client, const struct hf_request *request,
                       struct hf_answer *answer, struct wr_error *err)
{
    static const char *const fixed[] = {"Accept: application/json", "Expect:", NULL};
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    wr_status status = WR_OK;
    CURLcode rc;
    client->reply_len = 0;
    answer->status = 0;
    if (!append_lines(&headers, request->headers) || !append_lines(&headers, fixed)) {
        status = wr_error_set(err, WR_ERR_NOMEM, "unreachable: out of memory");
        goto out;
    }
    set_options(client, request, headers, errbuf);
    if ((rc = curl_easy_perform(client->curl)) != CURLE_OK)
        status = transport_failure(rc, errbuf, err);
    else
        curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &answer->status);
    curl_easy_setopt(client->curl, CURLOPT_ERRORBUFFER, NULL); /* errbuf goes out of scope */
out:
    client->reply[client->reply_len] = '\0';
    answer->body = client->reply;
    free_headers(headers);
    return status;
}

bool hf_transient(wr_status status)
{
    return status != WR_ERR_CONFIG;
}
