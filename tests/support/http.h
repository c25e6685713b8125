/* A small HTTP client for tests (libcurl): one request, its status, the
 * whole body and the few headers tests look at; JSON GET/POST for the stub
 * gateways' control APIs; polling a URL until it answers. Safe to use from
 * several threads at once (no shared state; the caller's main has called
 * curl_global_init, or libcurl >= 7.84 does it lazily). */
#ifndef WARREN_TESTS_SUPPORT_HTTP_H
#define WARREN_TESTS_SUPPORT_HTTP_H

#include <jansson.h>
#include <stddef.h>

struct ts_http_request {
    const char *method; /* "GET" when NULL */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated, or NULL */
    const char *body;           /* or NULL */
    size_t body_len;            /* bytes of body (it may hold NULs) */
    const char *ca_file;        /* a PEM certificate to trust for https, or NULL */
};

struct ts_http_reply {
    long status; /* the HTTP status; 0 when there was no answer (see error) */
    char *body;  /* the whole body, NUL-terminated (owned; ts_http_reply_free) */
    size_t body_len;
    char error[256]; /* why there was no answer */
    /* the headers tests check, without CRLF; "" when absent */
    char retry_after[32];
    char location[128];
    char allow[64];
    char traceparent[64];
    char content_type[128];
};

/* Sends one request (30 s timeout) and fills reply, which must be zeroed
 * or hold an earlier reply (its body is freed first). Never asserts: a
 * transport failure is status 0 with error set. */
void ts_http_send(const struct ts_http_request *request, struct ts_http_reply *reply);

/* Frees reply's body (and zeroes it); reply may be reused. */
void ts_http_reply_free(struct ts_http_reply *reply);

/* GETs base+path, asserts 200 and a JSON body, and returns it (the caller
 * frees it with json_decref). */
json_t *ts_http_get_json(const char *base, const char *path);

/* POSTs json_text (Content-Type: application/json) to base+path; returns
 * the HTTP status (0 when there was no answer). */
long ts_http_post_json(const char *base, const char *path, const char *json_text);

/* Polls url with GET until it answers 200 or timeout_ms passes; returns 0
 * when it answered. https certificates are not verified here. */
int ts_http_wait(const char *url, int timeout_ms);

#endif
