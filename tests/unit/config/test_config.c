/* Unit tests of config/: defaults, file values, environment overrides and
 * the exact one-line-per-problem reports. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/apikeys.h"
#include "config/config.h"
#include "tests/support/support.h"

static char tmp_path[64];

static const char *write_tmp(const char *content)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/warren-cfg-XXXXXX");
    int fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return tmp_path;
}

/* Loads content (NULL = no file); returns the status and the problems text. */
static wr_status load(const char *content, struct cfg **cfg, char **problems)
{
    size_t size;
    FILE *out = open_memstream(problems, &size);
    const char *path = content ? write_tmp(content) : NULL;
    wr_status status = cfg_load(path, out, cfg);
    fclose(out);
    if (path)
        unlink(path);
    return status;
}

/* The tests assert defaults: no WARREN_* variable of the caller may leak in. */
static void clear_warren_environment(void)
{
    extern char **environ;
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "WARREN_", 7) == 0) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
}

START_TEST(defaults_without_file)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    ck_assert_int_eq(load(NULL, &cfg, &problems), WR_OK);
    ck_assert_str_eq(problems, "");
    ck_assert_str_eq(cfg_str(cfg, CFG_BROKER_URL), "amqp://warren:warren@127.0.0.1:5682/");
    ck_assert_int_eq(cfg_int(cfg, CFG_BROKER_HEARTBEAT), 30000);
    ck_assert_str_eq(cfg_str(cfg, CFG_LOG_LEVEL), "info");
    cfg_free(cfg);
    free(problems);
}
END_TEST

START_TEST(file_values_then_env_override)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    setenv("WARREN_LOG_LEVEL", "debug", 1);
    ck_assert_int_eq(load("broker:\n  url: amqp://a:b@h:1/\n  heartbeat: 250ms\nlog:\n  level: warn\n",
                          &cfg, &problems),
                     WR_OK);
    ck_assert_str_eq(cfg_str(cfg, CFG_BROKER_URL), "amqp://a:b@h:1/");
    ck_assert_int_eq(cfg_int(cfg, CFG_BROKER_HEARTBEAT), 250);
    ck_assert_str_eq(cfg_str(cfg, CFG_LOG_LEVEL), "debug");
    cfg_free(cfg);
    free(problems);
}
END_TEST

START_TEST(every_problem_one_line_with_position)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    ck_assert_int_eq(load("broker:\n  hartbeat: 30s\n  heartbeat: soon\nlog:\n  level: loud\n"
                          "colour: blue\n",
                          &cfg, &problems),
                     WR_ERR_CONFIG);
    ck_assert_ptr_null(cfg);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "%1$s:2:3: unknown key broker.hartbeat\n"
             "%1$s:3:14: broker.heartbeat: expected a duration like 250ms, 10s, 5m or 1h\n"
             "%1$s:5:10: log.level: expected one of debug,info,warn,error\n"
             "%1$s:6:1: unknown section colour\n",
             tmp_path);
    ck_assert_str_eq(problems, expected);
    free(problems);
}
END_TEST

START_TEST(duplicate_key_and_wrong_shape)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    ck_assert_int_eq(load("broker:\n  url: amqp://x/\n  url: amqp://y/\n  heartbeat: [1s]\nlog: info\n",
                          &cfg, &problems),
                     WR_ERR_CONFIG);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "%1$s:3:3: broker.url: duplicate key\n"
             "%1$s:4:14: broker.heartbeat: expected a single value\n"
             "%1$s:5:6: log: expected a mapping of keys\n",
             tmp_path);
    ck_assert_str_eq(problems, expected);
    free(problems);
}
END_TEST

START_TEST(yaml_syntax_error_has_position)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    ck_assert_int_eq(load("broker:\n  url: [unclosed\n", &cfg, &problems), WR_ERR_CONFIG);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s:3:1: ", tmp_path);
    ck_assert_msg(strncmp(problems, prefix, strlen(prefix)) == 0, "got: %s", problems);
    free(problems);
}
END_TEST

START_TEST(bad_env_value_names_the_variable)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    setenv("WARREN_BROKER_URL", "localhost", 1);
    ck_assert_int_eq(load(NULL, &cfg, &problems), WR_ERR_CONFIG);
    ck_assert_str_eq(problems, "WARREN_BROKER_URL: broker.url: expected a URL like scheme://host:port\n");
    free(problems);
}
END_TEST

START_TEST(missing_file_is_one_clear_line)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    size_t size;
    FILE *out = open_memstream(&problems, &size);
    ck_assert_int_eq(cfg_load("/nonexistent/warren.yaml", out, &cfg), WR_ERR_CONFIG);
    fclose(out);
    ck_assert_str_eq(problems,
                     "/nonexistent/warren.yaml: cannot open config file: No such file or directory\n");
    free(problems);
}
END_TEST

START_TEST(dump_redacts_passwords)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    char *dump = NULL;
    size_t size;
    ck_assert_int_eq(load(NULL, &cfg, &problems), WR_OK);
    FILE *out = open_memstream(&dump, &size);
    cfg_dump(cfg, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(dump, "amqp://warren:***@127.0.0.1:5682/"));
    ck_assert_ptr_null(strstr(dump, "warren:warren@"));
    ck_assert_ptr_nonnull(strstr(dump, "WARREN_BROKER_HEARTBEAT"));
    cfg_free(cfg);
    free(problems);
    free(dump);
}
END_TEST

START_TEST(integer_and_bounded_duration_keys)
{
    struct cfg *cfg = NULL;
    char *problems = NULL;
    ck_assert_int_eq(load("api:\n  port: 8081\n  idempotency_retention: 36h\n", &cfg, &problems),
                     WR_OK);
    ck_assert_int_eq(cfg_int(cfg, CFG_API_PORT), 8081);
    ck_assert_int_eq(cfg_int(cfg, CFG_API_IDEMPOTENCY_RETENTION), 36LL * 3600000);
    ck_assert_str_eq(cfg_str(cfg, CFG_API_TLS_CERT), "");
    cfg_free(cfg);
    free(problems);
    ck_assert_int_eq(load("api:\n  port: 70000\n  idempotency_retention: 1h\n  max_body: 1k\n",
                          &cfg, &problems),
                     WR_ERR_CONFIG);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "%1$s:2:9: api.port: expected a whole number from 1 to 65535\n"
             "%1$s:3:26: api.idempotency_retention: expected a duration from 24h to 720h\n"
             "%1$s:4:13: api.max_body: expected a whole number from 1024 to 1048576\n",
             tmp_path);
    ck_assert_str_eq(problems, expected);
    free(problems);
}
END_TEST

static wr_status load_keys(const char *content, struct cfg_api_key **keys, size_t *count,
                           char **problems)
{
    size_t size;
    FILE *out = open_memstream(problems, &size);
    const char *path = write_tmp(content);
    wr_status status = cfg_api_keys_load(path, out, keys, count);
    fclose(out);
    unlink(path);
    return status;
}

START_TEST(api_keys_file_loads_hashes_and_limits)
{
    struct cfg_api_key *keys = NULL;
    size_t count = 0;
    char *problems = NULL;
    ck_assert_int_eq(
        load_keys("keys:\n"
                  "  - name: shop\n"
                  "    kind: storefront\n"
                  "    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
                  "    rate: 5\n"
                  "  - {name: ops, kind: admin, sha256: "
                  "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752}\n",
                  &keys, &count, &problems),
        WR_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_str_eq(keys[0].name, "shop");
    ck_assert_int_eq(keys[0].kind, CFG_KEY_STOREFRONT);
    ck_assert_int_eq(keys[0].sha256[0], 0x9f);
    ck_assert_int_eq(keys[0].sha256[31], 0x08);
    ck_assert(keys[0].rate == 5 && keys[0].burst == 2000);
    ck_assert_int_eq(keys[1].kind, CFG_KEY_ADMIN);
    ck_assert(keys[1].rate == 1000);
    cfg_api_keys_free(keys, count);
    free(problems);
}
END_TEST

START_TEST(api_keys_file_problems_have_positions)
{
    struct cfg_api_key *keys = NULL;
    size_t count = 0;
    char *problems = NULL;
    ck_assert_int_eq(load_keys("keys:\n"
                               "  - name: shop\n"
                               "    kind: owner\n"
                               "    sha256: abc\n"
                               "    colour: red\n"
                               "  - name: shop\n"
                               "    rate: -1\n",
                               &keys, &count, &problems),
                     WR_ERR_CONFIG);
    ck_assert_ptr_null(keys);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "%1$s:3:11: kind: expected storefront or admin\n"
             "%1$s:4:13: sha256: expected 64 hex digits (warrenctl key hash)\n"
             "%1$s:5:5: unknown key colour\n"
             "%1$s:2:5: missing sha256\n"
             "%1$s:7:11: rate: expected a positive number\n"
             "%1$s:6:5: missing sha256\n"
             "%1$s:6:5: duplicate key name shop\n",
             tmp_path);
    ck_assert_str_eq(problems, expected);
    free(problems);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, clear_warren_environment, clear_warren_environment);
    tcase_add_test(tc, defaults_without_file);
    tcase_add_test(tc, file_values_then_env_override);
    tcase_add_test(tc, every_problem_one_line_with_position);
    tcase_add_test(tc, duplicate_key_and_wrong_shape);
    tcase_add_test(tc, yaml_syntax_error_has_position);
    tcase_add_test(tc, bad_env_value_names_the_variable);
    tcase_add_test(tc, missing_file_is_one_clear_line);
    tcase_add_test(tc, dump_redacts_passwords);
    tcase_add_test(tc, integer_and_bounded_duration_keys);
    tcase_add_test(tc, api_keys_file_loads_hashes_and_limits);
    tcase_add_test(tc, api_keys_file_problems_have_positions);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(config_suite());
}
