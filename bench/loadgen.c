/* bench_loadgen: an open-loop HTTP load generator for the intake
 * benchmark. It sends keep-alive POSTs of an order at a fixed total rate
 * over C connections (one thread each) for D seconds and measures each
 * request's latency from the moment it was scheduled (not sent), so a slow
 * server cannot hide its queueing (no coordinated omission). With --keyed
 * every request carries a fresh Idempotency-Key.
 *
 *   bench_loadgen URL KEY BODY_FILE RATE CONNECTIONS SECONDS [--keyed] [--count N]
 * With --count, it stops after N requests in all (or at SECONDS).
 * prints: sent=N ok=N failed=N rate_per_s=R p50_ms=X p99_ms=Y */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct loadgen {
    const char *url;
    char auth[256];
    char *body;
    double interval_s; /* between two requests of one connection */
    double seconds;
    int keyed;
    long limit;          /* total requests, 0 = no limit */
    atomic_long issued;  /* requests started so far */
};

struct worker {
    const struct loadgen *config;
    int index;
    double *latencies;
    size_t count, capacity, ok, failed;
    pthread_t thread;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_until(double when)
{
    double wait = when - now_s();
    if (wait <= 0)
        return;
    struct timespec t = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&t, NULL);
}

static size_t discard(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    (void)user;
    return size * count;
}

static void record(struct worker *w, double latency, int ok)
{
    if (w->count == w->capacity) {
        w->capacity = w->capacity ? w->capacity * 2 : 4096;
        w->latencies = realloc(w->latencies, w->capacity * sizeof *w->latencies);
    }
    w->latencies[w->count++] = latency;
    if (ok)
        w->ok++;
    else
        w->failed++;
}

static void *run_connection(void *arg)
{
    struct worker *w = arg;
    const struct loadgen *c = w->config;
    CURL *curl = curl_easy_init();
    struct curl_slist *base = NULL;
    base = curl_slist_append(base, "Content-Type: application/json");
    base = curl_slist_append(base, c->auth);
    base = curl_slist_append(base, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, c->url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    double start = now_s(), next = start + c->interval_s * w->index / 64.0;
    unsigned long sequence = 0;
    struct loadgen *shared = (struct loadgen *)c;
    while (next < start + c->seconds && now_s() < start + c->seconds &&
           (!c->limit || atomic_fetch_add(&shared->issued, 1) < c->limit)) {
        sleep_until(next);
        struct curl_slist *headers = base;
        char key[96];
        struct curl_slist *keyed = NULL;
        if (c->keyed) {
            snprintf(key, sizeof key, "Idempotency-Key: bench-%d-%d-%lu-%.6f", (int)getpid(),
                     w->index, sequence++, start);
            keyed = curl_slist_append(curl_slist_append(NULL, key), "Content-Type: application/json");
            keyed = curl_slist_append(keyed, c->auth);
            keyed = curl_slist_append(keyed, "Expect:");
            headers = keyed;
        }
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        long code = 0;
        int ok = curl_easy_perform(curl) == CURLE_OK &&
                 curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 202;
        record(w, now_s() - next, ok);
        curl_slist_free_all(keyed);
        next += c->interval_s;
    }
    curl_slist_free_all(base);
    curl_easy_cleanup(curl);
    return NULL;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (text)
        text[n] = '\0';
    return text;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: bench_loadgen URL KEY BODY_FILE RATE CONNECTIONS SECONDS [--keyed]\n");
        return 2;
    }
    static struct loadgen config;
    config.url = argv[1];
    config.body = read_all(argv[3]);
    config.seconds = strtod(argv[6], NULL);
    for (int i = 7; i < argc; i++) {
        if (strcmp(argv[i], "--keyed") == 0)
            config.keyed = 1;
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            config.limit = strtol(argv[++i], NULL, 10);
    }
    double rate = strtod(argv[4], NULL);
    int connections = (int)strtol(argv[5], NULL, 10);
    if (!config.body || rate <= 0 || connections < 1 || connections > 1024 || config.seconds <= 0) {
        fprintf(stderr, "bench_loadgen: bad arguments or unreadable body file\n");
        return 2;
    }
    snprintf(config.auth, sizeof config.auth, "Authorization: Bearer %s", argv[2]);
    config.interval_s = connections / rate;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct worker *workers = calloc((size_t)connections, sizeof *workers);
    double started = now_s();
    for (int i = 0; i < connections; i++) {
        workers[i] = (struct worker){.config = &config, .index = i};
        pthread_create(&workers[i].thread, NULL, run_connection, &workers[i]);
    }
    size_t total = 0, ok = 0, failed = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].count;
        ok += workers[i].ok;
        failed += workers[i].failed;
    }
    double elapsed = now_s() - started;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < connections; i++) {
        memcpy(all + k, workers[i].latencies, workers[i].count * sizeof *all);
        k += workers[i].count;
        free(workers[i].latencies);
    }
    qsort(all, total, sizeof *all, compare);
    double p50 = total ? all[total / 2] * 1000 : 0, p99 = total ? all[total * 99 / 100] * 1000 : 0;
    printf("sent=%zu ok=%zu failed=%zu rate_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n", total, ok,
           failed, (double)ok / elapsed, p50, p99);
    free(all);
    free(workers);
    free(config.body);
    curl_global_cleanup();
    return 0;
}
