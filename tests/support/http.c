/* The tests' HTTP client over libcurl (see http.h): one easy handle per
 * request, the body grown as it arrives, selected headers kept. */
#include "tests/support/http.h"

#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/support/support.h"

static size_t collect_body(char *data, size_t size, size_t count, void *user)
{
    struct ts_http_reply *r = user;
    size_t n = size * count;
    char *grown = realloc(r->body, r->body_len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + r->body_len, data, n);
    r->body = grown;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static void keep_header(const char *line, const char *name, char *out, size_t out_size)
{
    size_t len = strlen(name);
    if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
        snprintf(out, out_size, "%s", line + len + 2);
        out[strcspn(out, "\r\n")] = '\0';
    }
}

static size_t collect_header(char *data, size_t size, size_t count, void *user)
{
    struct ts_http_reply *r = user;
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(size * count), data);
    keep_header(line, "Retry-After", r->retry_after, sizeof r->retry_after);
    keep_header(line, "Location", r->location, sizeof r->location);
    keep_header(line, "Allow", r->allow, sizeof r->allow);
    keep_header(line, "traceparent", r->traceparent, sizeof r->traceparent);
    keep_header(line, "Content-Type", r->content_type, sizeof r->content_type);
    return size * count;
}

static void set_options(CURL *curl, const struct ts_http_request *q, struct curl_slist *headers,
                        struct ts_http_reply *r)
{
    curl_easy_setopt(curl, CURLOPT_URL, q->url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, q->method ? q->method : "GET");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads */
    if (q->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, q->ca_file);
    if (q->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)q->body_len);
    }
}

void ts_http_send(const struct ts_http_request *request, struct ts_http_reply *reply)
{
    struct curl_slist *headers = NULL;
    ts_http_reply_free(reply);
    for (size_t i = 0; request->headers && request->headers[i]; i++)
        headers = curl_slist_append(headers, request->headers[i]);
    headers = curl_slist_append(headers, "Expect:");
    CURL *curl = curl_easy_init();
    set_options(curl, request, headers, reply);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    else
        snprintf(reply->error, sizeof reply->error, "%s", curl_easy_strerror(rc));
    if (!reply->body)
        reply->body = calloc(1, 1);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
}

void ts_http_reply_free(struct ts_http_reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

json_t *ts_http_get_json(const char *base, const char *path)
{
    char url[512];
    struct ts_http_reply r = {0};
    snprintf(url, sizeof url, "%s%s", base, path);
    ts_http_send(&(struct ts_http_request){.url = url}, &r);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", url, r.status, r.error);
    json_t *root = json_loads(r.body, 0, NULL);
    ck_assert_msg(root != NULL, "GET %s: not JSON: %s", url, r.body);
    ts_http_reply_free(&r);
    return root;
}

long ts_http_post_json(const char *base, const char *path, const char *json_text)
{
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    char url[512];
    struct ts_http_reply r = {0};
    snprintf(url, sizeof url, "%s%s", base, path);
    ts_http_send(&(struct ts_http_request){.method = "POST",
                                           .url = url,
                                           .headers = headers,
                                           .body = json_text,
                                           .body_len = strlen(json_text)},
                 &r);
    long status = r.status;
    ts_http_reply_free(&r);
    return status;
}

static size_t discard_body(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    (void)user;
    return size * count;
}

int ts_http_wait(const char *url, int timeout_ms)
{
    CURL *curl = curl_easy_init();
    long code = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L); /* tests' self-signed certificates */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (curl_easy_perform(curl) == CURLE_OK &&
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
            break;
        ts_sleep_ms(50);
    }
    curl_easy_cleanup(curl);
    return code == 200 ? 0 : -1;
}
