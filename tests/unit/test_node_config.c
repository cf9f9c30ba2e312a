/* test_node_config.c: the settings table and the redis.conf parser:
 * defaults, units, quoting, line-numbered errors, command-line options, and
 * that a failed parse leaves the settings unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "node/config.h"
#include "testlib.h"

static void get(const struct node_config *c, const char *name, char *out,
                size_t n)
{
    const struct config_def *d = config_find(name, strlen(name));
    assert_non_null(d);
    config_format(c, d, out, n);
}

static void defaults_match_redis_and_the_brief(void **state)
{
    (void)state;
    struct node_config c;
    config_init(&c);
    char v[600];
    assert_int_equal(c.port, 6379);
    assert_string_equal(c.bind, "127.0.0.1");
    assert_true(c.maxmemory == 0);
    assert_int_equal(c.maxmemory_policy, KV_POLICY_NOEVICTION);
    assert_int_equal(c.hz, 10);
    assert_int_equal(c.databases, 16);
    get(&c, "save", v, sizeof(v));
    assert_string_equal(v, "");
    get(&c, "appendonly", v, sizeof(v));
    assert_string_equal(v, "no");
    get(&c, "client-query-buffer-limit", v, sizeof(v));
    assert_string_equal(v, "1073741824");
    get(&c, "proto-max-bulk-len", v, sizeof(v));
    assert_string_equal(v, "536870912");
    get(&c, "client-output-buffer-limit", v, sizeof(v));
    assert_memory_equal(v, "normal 268435456 0 0 ", 21);
    get(&c, "maxmemory-policy", v, sizeof(v));
    assert_string_equal(v, "noeviction");
    get(&c, "loglevel", v, sizeof(v));
    assert_string_equal(v, "notice");
    assert_null(config_find("nope", 4));
    assert_non_null(config_find("MAXMEMORY", 9));
}

static void memory_units(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(config_parse_memory("100", 3, &v), 0);
    assert_true(v == 100);
    assert_int_equal(config_parse_memory("1k", 2, &v), 0);
    assert_true(v == 1000);
    assert_int_equal(config_parse_memory("1KB", 3, &v), 0);
    assert_true(v == 1024);
    assert_int_equal(config_parse_memory("100mb", 5, &v), 0);
    assert_true(v == 100ull * 1024 * 1024);
    assert_int_equal(config_parse_memory("2gb", 3, &v), 0);
    assert_true(v == 2ull * 1024 * 1024 * 1024);
    assert_int_equal(config_parse_memory("", 0, &v), CAIRN_EINVAL);
    assert_int_equal(config_parse_memory("mb", 2, &v), CAIRN_EINVAL);
    assert_int_equal(config_parse_memory("10xb", 4, &v), CAIRN_EINVAL);
    assert_int_equal(config_parse_memory("-1", 2, &v), CAIRN_EINVAL);
    assert_int_equal(config_parse_memory("99999999999999999999gb", 22, &v),
                     CAIRN_EINVAL);
}

static void file_with_comments_quotes_and_units(void **state)
{
    (void)state;
    static const char text[] =
        "# a comment\n"
        "\n"
        "   port 7000\r\n"
        "bind 127.0.0.1 ::1\n"
        "maxmemory 100mb\n"
        "MAXMEMORY-POLICY allkeys-lru\n"
        "requirepass \"pa ss\\x21\"\n"
        "save 900 1 300 10\n"
        "appendonly no\n"
        "client-output-buffer-limit normal 1mb 512kb 10 pubsub 32mb 8mb 60\n"
        "hz 1000\n"
        "logfile ''\n"
        "timeout 30";
    struct node_config c;
    config_init(&c);
    char err[CONFIG_ERR_MAX] = "";
    assert_int_equal(config_load_text(&c, text, strlen(text), err,
                                      sizeof(err)), 0);
    assert_int_equal(c.port, 7000);
    assert_string_equal(c.bind, "127.0.0.1 ::1");
    assert_true(c.maxmemory == 100ull * 1024 * 1024);
    assert_int_equal(c.maxmemory_policy, KV_POLICY_ALLKEYS_LRU);
    assert_string_equal(c.requirepass, "pa ss!");
    assert_string_equal(c.save, "900 1 300 10");
    assert_true(c.cob_normal_hard == 1024 * 1024);
    assert_true(c.cob_normal_soft == 512 * 1024);
    assert_int_equal(c.cob_normal_soft_s, 10);
    assert_int_equal(c.hz, 500); /* clamped as Redis */
    assert_int_equal(c.timeout_s, 30);
}

/* Loads text and expects an error mentioning want (and the line). */
static void expect_error(const char *text, const char *want)
{
    struct node_config c;
    config_init(&c);
    char err[CONFIG_ERR_MAX] = "";
    assert_int_equal(config_load_text(&c, text, strlen(text), err,
                                      sizeof(err)), CAIRN_ECONFIG);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, want);
}

static void bad_files_name_the_line(void **state)
{
    (void)state;
    expect_error("port 6380\nport 99999\n", "line 2: >>> 'port 99999'");
    expect_error("port 99999\n", "between 0 and 65535");
    expect_error("port x\n", "couldn't be parsed into an integer");
    expect_error("frobnicate yes\n", "Bad directive");
    expect_error("port\n", "Bad directive or wrong number of arguments");
    expect_error("port 1 2\n", "wrong number of arguments");
    expect_error("requirepass \"abc\n", "unbalanced quotes");
    expect_error("requirepass \"abc\"x\n", "unbalanced quotes");
    expect_error("databases 8\n", "between 16 and 16");
    expect_error("daemonize yes\n", "does not daemonize");
    expect_error("maxmemory lots\n", "memory value");
    expect_error("maxmemory-policy lru\n", "one of the following");
    expect_error("appendonly maybe\n", "'yes' or 'no'");
    expect_error("save 900\n", "Invalid save parameters");
    expect_error("client-output-buffer-limit normal 1mb\n",
                 "Wrong number of arguments");
    expect_error("client-output-buffer-limit bogus 1 2 3\n",
                 "Invalid client class");
    expect_error("hash-seed -1\n", "couldn't be parsed");
    expect_error("include /etc/other.conf\n", "Bad directive");
    char longline[CONFIG_LINE_MAX + 20];
    memset(longline, 'a', sizeof(longline));
    longline[sizeof(longline) - 1] = '\0';
    expect_error(longline, "line is too long");
}

static void failed_value_leaves_setting_unchanged(void **state)
{
    (void)state;
    struct node_config c;
    config_init(&c);
    const struct config_def *d = config_find("maxmemory", 9);
    assert_null(config_set_value(&c, d, "10mb"));
    assert_non_null(config_set_value(&c, d, "ten"));
    assert_true(c.maxmemory == 10ull * 1024 * 1024);
    d = config_find("client-output-buffer-limit", 26);
    assert_non_null(config_set_value(&c, d, "normal 1 2 3 bogus 1 2 3"));
    assert_true(c.cob_normal_hard == 256ull * 1024 * 1024);
}

static void command_line_options(void **state)
{
    (void)state;
    struct node_config c;
    config_init(&c);
    char err[CONFIG_ERR_MAX] = "";
    const char *argv[] = {"--port", "7001", "--save", "", "--maxmemory",
                          "10mb", "--bind", "0.0.0.0", "::", "--appendonly"};
    assert_int_equal(config_load_args(&c, 9, argv, err, sizeof(err)), 0);
    assert_int_equal(c.port, 7001);
    assert_string_equal(c.save, "");
    assert_true(c.maxmemory == 10ull * 1024 * 1024);
    assert_string_equal(c.bind, "0.0.0.0 ::");
    /* "--appendonly" with no value gets "", which is not yes/no. */
    assert_int_equal(config_load_args(&c, 10, argv, err, sizeof(err)),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(err, "--appendonly"));
    const char *bad[] = {"port", "7000"};
    assert_int_equal(config_load_args(&c, 2, bad, err, sizeof(err)),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(err, "expected --name"));
}

static void every_setting_round_trips_through_format(void **state)
{
    (void)state;
    struct node_config c, d;
    config_init(&c);
    config_init(&d);
    char v[CONFIG_STR_MAX + 128];
    for (size_t i = 0; i < config_table_len; i++) {
        config_format(&c, &config_table[i], v, sizeof(v));
        const char *why = config_set_value(&d, &config_table[i], v);
        if (why != NULL)
            fail_msg("%s: '%s' does not parse back: %s",
                     config_table[i].name, v, why);
    }
    assert_memory_equal(&c, &d, sizeof(c));
}

/* The Raft tuning settings: defaults equal to raft's own, bounds checked,
 * every spelling of a bad value refused with a clear error. */
static void raft_tuning_settings(void **state)
{
    (void)state;
    struct node_config c;
    config_init(&c);
    assert_int_equal(c.raft_append_max_bytes, 1048576);
    assert_int_equal(c.raft_inflight_max_msgs, 256);
    assert_true(c.raft_check_quorum);
    static const char text[] = "raft-append-max-bytes 1\n"
                               "RAFT-INFLIGHT-MAX-MSGS 1\n"
                               "raft-check-quorum no\n";
    char err[CONFIG_ERR_MAX] = "";
    assert_int_equal(config_load_text(&c, text, strlen(text), err,
                                      sizeof(err)), 0);
    assert_int_equal(c.raft_append_max_bytes, 1);
    assert_int_equal(c.raft_inflight_max_msgs, 1);
    assert_false(c.raft_check_quorum);
    char v[64];
    get(&c, "raft-check-quorum", v, sizeof(v));
    assert_string_equal(v, "no");
    get(&c, "raft-append-max-bytes", v, sizeof(v));
    assert_string_equal(v, "1");
    const char *argv[] = {"--raft-append-max-bytes", "16777216",
                          "--raft-check-quorum", "yes",
                          "--raft-inflight-max-msgs", "256"};
    assert_int_equal(config_load_args(&c, 6, argv, err, sizeof(err)), 0);
    assert_int_equal(c.raft_append_max_bytes, 16777216);
    assert_int_equal(c.raft_inflight_max_msgs, 256);
    assert_true(c.raft_check_quorum);
    expect_error("raft-append-max-bytes 0\n", "between 1 and 16777216");
    expect_error("raft-append-max-bytes 16777217\n",
                 "between 1 and 16777216");
    expect_error("raft-append-max-bytes 1mb\n", "parsed into an integer");
    expect_error("raft-inflight-max-msgs 0\n", "between 1 and 256");
    expect_error("raft-inflight-max-msgs 257\n", "between 1 and 256");
    expect_error("raft-check-quorum off\n", "'yes' or 'no'");
    const struct config_def *d = config_find("raft-check-quorum", 17);
    assert_non_null(d);
    assert_true(d->flags & CONFIG_IMMUTABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_match_redis_and_the_brief),
        cmocka_unit_test(memory_units),
        cmocka_unit_test(file_with_comments_quotes_and_units),
        cmocka_unit_test(bad_files_name_the_line),
        cmocka_unit_test(failed_value_leaves_setting_unchanged),
        cmocka_unit_test(command_line_options),
        cmocka_unit_test(every_setting_round_trips_through_format),
        cmocka_unit_test(raft_tuning_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
