/* bench_idem_store: what the Idempotency-Key store itself sustains. C
 * threads, each with its own PostgreSQL connection, claim a fresh key and
 * record its answer (the two statements a keyed POST costs) for D seconds.
 *
 *   bench_idem_store DATABASE_URL CONNECTIONS SECONDS
 * prints: key_store_per_s=N */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "api/idempotency.h"

struct store_worker {
    const char *url;
    int index;
    double seconds;
    unsigned long done;
    pthread_t thread;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct store_worker *w = arg;
    struct wr_error err;
    struct db_conn *db = db_open(w->url, &err);
    if (!db) {
        fprintf(stderr, "bench_idem_store: %s\n", err.message);
        return NULL;
    }
    double end = now_s() + w->seconds;
    while (now_s() < end) {
        char key[96], order_id[37];
        uuid_t id;
        uuid_generate_random(id);
        uuid_unparse_lower(id, order_id);
        snprintf(key, sizeof key, "bench-store-%d-%d-%lu", (int)getpid(), w->index, w->done);
        struct api_idem_result claim;
        if (api_idem_claim(db, "bench", key, "hash", order_id, 30, &claim, &err) != WR_OK ||
            api_idem_complete(db, "bench", key, 202, "{}", &err) != WR_OK) {
            fprintf(stderr, "bench_idem_store: %s\n", err.message);
            break;
        }
        w->done++;
    }
    db_close(db);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_idem_store DATABASE_URL CONNECTIONS SECONDS\n");
        return 2;
    }
    int connections = (int)strtol(argv[2], NULL, 10);
    double seconds = strtod(argv[3], NULL);
    struct wr_error err;
    struct db_conn *db = db_open(argv[1], &err);
    if (!db || api_idem_migrate(db, &err) != WR_OK) {
        fprintf(stderr, "bench_idem_store: %s\n", err.message);
        return 1;
    }
    db_close(db);
    struct store_worker *workers = calloc((size_t)connections, sizeof *workers);
    double started = now_s();
    for (int i = 0; i < connections; i++) {
        workers[i] = (struct store_worker){.url = argv[1], .index = i, .seconds = seconds};
        pthread_create(&workers[i].thread, NULL, run, &workers[i]);
    }
    unsigned long total = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].done;
    }
    printf("key_store_per_s=%.0f\n", (double)total / (now_s() - started));
    free(workers);
    return 0;
}
