/* The HTTP plumbing of the gateway clients (payment_gateway.c, sms.c): a
 * client owning one reused libcurl handle and its reply buffer, with
 * connect and total timeouts, that POSTs form-encoded bodies and reads JSON
 * answers. Secrets (an Authorization header, basic auth) are passed per
 * call and never logged. No libcurl type leaves http_form.c. */
#ifndef WARREN_WORKERS_HTTP_FORM_H
#define WARREN_WORKERS_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define HF_REPLY_MAX 65536 /* bytes of an answer's body kept; the rest is dropped */

/* Once per program (libcurl's global state), before any client is
 * created: loads libcurl (http_form.c says why it is loaded at run time)
 * and initialises it. WR_ERR_CONFIG with err set when libcurl cannot be
 * loaded, WR_ERR_NOMEM when it cannot start. Each success is paired with
 * one hf_global_cleanup() after the last client is destroyed. */
wr_status hf_global_init(struct wr_error *err) WR_MUST_CHECK;
void hf_global_cleanup(void);

struct hf_options {
    const char *user_agent;     /* e.g. "warren-payment/1.0"; copied */
    int64_t timeout_ms;         /* whole request */
    int64_t connect_timeout_ms; /* TCP (and TLS) connect */
};

struct hf_client;

/* A client for one thread at a time. NULL with err set (WR_ERR_NOMEM) when
 * out of memory or libcurl cannot start, WR_ERR_CONFIG when it cannot be
 * loaded. Free with hf_client_destroy(). */
struct hf_client *hf_client_create(const struct hf_options *options, struct wr_error *err);
void hf_client_destroy(struct hf_client *client);

/* "{base}{path}" with the base's trailing '/'s dropped; path is a printf
 * format. NULL when out of memory; the caller frees it with free(). */
char *hf_url(const char *base, const char *path_fmt, ...) __attribute__((format(printf, 2, 3)));

/* One name=value of a form: the name is written as given (already
 * form-safe), the value percent-encoded. */
struct hf_field {
    const char *name;
    const char *value;
};

/* "n1=v1&n2=v2..." from count fields. NULL when out of memory; the caller
 * frees it with free(). */
char *hf_form_encode(struct hf_client *client, const struct hf_field *fields, size_t count);

/* One POST. Strings are borrowed for the call. */
struct hf_request {
    const char *url;
    const char *form;           /* the body, e.g. from hf_form_encode() */
    const char *const *headers; /* extra "Name: value" lines, NULL-ended, or NULL; may be secret */
    const char *user;           /* HTTP basic auth with password when not NULL */
    const char *password;       /* secret */
};

struct hf_answer {
    long status;      /* the HTTP status; 0 when no answer came */
    const char *body; /* NUL-terminated (cut at HF_REPLY_MAX); owned by the client,
                       * valid until its next hf_post_form() or destroy */
};

/* POSTs request->form with "Accept: application/json" and the request's
 * headers and credentials. WR_OK when an answer came, whatever its status
 * (see *answer). Otherwise err says why ("timed out: ...", "unreachable:
 * ...", "URL unusable: ...", with libcurl's detail) and the status is
 * WR_ERR_TIMEOUT, WR_ERR_CONNECTION, WR_ERR_NOMEM or WR_ERR_CONFIG: ask
 * hf_transient() whether it is worth retrying. */
wr_status hf_post_form(struct hf_client *client, const struct hf_request *request,
                       struct hf_answer *answer, struct wr_error *err) WR_MUST_CHECK;

/* True when a failed hf_post_form() may work later (a timeout, no
 * connection, out of memory); false when the request can never work (a
 * URL libcurl cannot use: WR_ERR_CONFIG). */
bool hf_transient(wr_status status);

#endif
