/* Form POSTs over libcurl for the gateway clients (see http_form.h): the
 * reused handle, the reply collector, the headers of one request (wiped
 * after use, as they may hold a key) and the sorting of transport
 * failures into worth-retrying or never-working.
 *
 * Why libcurl is loaded with dlopen: warren-worker runs every service, and
 * only payment and notification (SMS) post forms. Linked normally, libcurl
 * and its dependency tree (nghttp2, ssh2, rtmp, idn2, psl, brotli, ...)
 * would be loaded and relocated in every worker; loaded here, only the
 * processes that create a client pay for them. The functions used are
 * listed once (CURL_FUNCTIONS) and resolved into the client. */
#include "workers/http_form.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/dynlib.h"

#define LIBCURL "libcurl.so.4" /* Debian's libcurl4 (OpenSSL) */

/* Return type, name after "curl_", parameters of each libcurl function called. */
#define CURL_FUNCTIONS(X)                                                                          \
    X(CURLcode, global_init, (long flags))                                                         \
    X(void, global_cleanup, (void))                                                                \
    X(CURL *, easy_init, (void))                                                                   \
    X(void, easy_cleanup, (CURL * curl))                                                           \
    X(void, easy_reset, (CURL * curl))                                                             \
    X(CURLcode, easy_setopt, (CURL * curl, CURLoption option, ...))                                \
    X(CURLcode, easy_perform, (CURL * curl))                                                       \
    X(CURLcode, easy_getinfo, (CURL * curl, CURLINFO info, ...))                                   \
    X(const char *, easy_strerror, (CURLcode code))                                                \
    X(char *, easy_escape, (CURL * curl, const char *string, int length))                          \
    X(void, free, (void *p))                                                                       \
    X(struct curl_slist *, slist_append, (struct curl_slist * list, const char *s))                \
    X(void, slist_free_all, (struct curl_slist * list))

/* libcurl's functions, resolved from a handle of dlopen. The field names
 * lack the "curl_" prefix so that curl.h's type-checking macros
 * (curl_easy_setopt, ...) do not apply to them. */
struct curl_api {
#define CURL_FIELD(ret, name, params) ret(*name) params;
    CURL_FUNCTIONS(CURL_FIELD)
#undef CURL_FIELD
};

static const struct wrk_symbol curl_symbols[] = {
#define CURL_SYMBOL(ret, name, params) {"curl_" #name, offsetof(struct curl_api, name)},
    CURL_FUNCTIONS(CURL_SYMBOL)
#undef CURL_SYMBOL
};

/* Loads libcurl into api (see wrk_dlopen). */
static void *curl_load(struct curl_api *api, struct wr_error *err)
{
    return wrk_dlopen(LIBCURL, curl_symbols, sizeof curl_symbols / sizeof curl_symbols[0], api,
                      err);
}

struct hf_client {
    void *lib; /* from curl_load */
    struct curl_api api;
    CURL *curl;
    char *user_agent;
    long timeout_ms;
    long connect_timeout_ms;
    size_t reply_len;
    char reply[HF_REPLY_MAX + 1];
};

/* The library stays loaded from here to hf_global_cleanup(), which finds
 * it again with RTLD_NOLOAD: no handle needs to be kept in between. */
wr_status hf_global_init(struct wr_error *err)
{
    struct curl_api api;
    void *lib = curl_load(&api, err);
    if (!lib)
        return err->code;
    if (api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        return WR_OK;
    dlclose(lib);
    return wr_error_set(err, WR_ERR_NOMEM, "libcurl did not initialise");
}

void hf_global_cleanup(void)
{
    void *lib = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!lib)
        return;
    void (*global_cleanup)(void) = (void (*)(void))dlsym(lib, "curl_global_cleanup");
    if (global_cleanup)
        global_cleanup();
    dlclose(lib); /* the reference just taken */
    dlclose(lib); /* hf_global_init's */
}

struct hf_client *hf_client_create(const struct hf_options *options, struct wr_error *err)
{
    struct hf_client *c = calloc(1, sizeof *c);
    if (!c) {
        wr_error_set(err, WR_ERR_NOMEM, "HTTP client: out of memory");
        return NULL;
    }
    if (!(c->lib = curl_load(&c->api, err))) {
        free(c);
        return NULL;
    }
    if (!(c->user_agent = strdup(options->user_agent)) || !(c->curl = c->api.easy_init())) {
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
        client->api.easy_cleanup(client->curl);
    if (client->lib)
        dlclose(client->lib);
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
        char *value = client->api.easy_escape(client->curl, fields[i].value, 0);
        if (!value || !append_field(&form, &len, fields[i].name, value)) {
            free(form);
            form = NULL;
        }
        client->api.free(value);
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
static void free_headers(const struct hf_client *c, struct curl_slist *headers)
{
    for (struct curl_slist *h = headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    c->api.slist_free_all(headers);
}

/* Appends lines (NULL-ended) to *headers; false when out of memory. */
static bool append_lines(const struct hf_client *c, struct curl_slist **headers,
                         const char *const *lines)
{
    for (; lines && *lines; lines++) {
        struct curl_slist *h = c->api.slist_append(*headers, *lines);
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
    CURLcode (*setopt)(CURL *, CURLoption, ...) = c->api.easy_setopt;
    c->api.easy_reset(curl);
    setopt(curl, CURLOPT_URL, request->url);
    setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (request->user) {
        setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        setopt(curl, CURLOPT_USERNAME, request->user);
        setopt(curl, CURLOPT_PASSWORD, request->password);
    }
    setopt(curl, CURLOPT_POSTFIELDS, request->form);
    setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    setopt(curl, CURLOPT_WRITEDATA, c);
    setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    setopt(curl, CURLOPT_NOSIGNAL, 1L);
    setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    setopt(curl, CURLOPT_USERAGENT, c->user_agent);
    setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* No answer: a URL libcurl cannot use never works; a timeout or a
 * connection problem may work later. */
static wr_status transport_failure(const struct hf_client *c, CURLcode rc, const char *errbuf,
                                   struct wr_error *err)
{
    const char *detail = errbuf[0] ? errbuf : c->api.easy_strerror(rc);
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
    if (!append_lines(client, &headers, request->headers) ||
        !append_lines(client, &headers, fixed)) {
        status = wr_error_set(err, WR_ERR_NOMEM, "unreachable: out of memory");
        goto out;
    }
    set_options(client, request, headers, errbuf);
    if ((rc = client->api.easy_perform(client->curl)) != CURLE_OK)
        status = transport_failure(client, rc, errbuf, err);
    else
        client->api.easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &answer->status);
    client->api.easy_setopt(client->curl, CURLOPT_ERRORBUFFER, NULL); /* errbuf goes out of scope */
out:
    client->reply[client->reply_len] = '\0';
    answer->body = client->reply;
    free_headers(client, headers);
    return status;
}

bool hf_transient(wr_status status)
{
    return status != WR_ERR_CONFIG;
}
