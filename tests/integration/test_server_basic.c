/*
 * test_server_basic.c: the daemon as a client and an operator see it.
 *
 * PING (inline and multibulk), QUIT, SHUTDOWN and SIGTERM exits, CONFIG GET
 * of what redis-benchmark asks at start, INFO sections, CLIENT
 * LIST/KILL/SETNAME/GETNAME, SELECT bounds, the maxclients limit and the idle
 * timeout.  Each test starts its own server on a free 127.0.0.1 port.
 * Expected bytes are Redis 7.0's (run with CAIRN_SERVER=/usr/bin/redis-server
 * to check them against Redis).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "it.h"

/* One shared server for the tests that do not stop or reconfigure it. */
static struct server_proc shared;

static int shared_start(void **state)
{
    (void)state;
    return server_proc_start_target(&shared, NULL);
}

static int shared_stop(void **state)
{
    (void)state;
    int status = server_proc_stop(&shared, IT_STOP_TIMEOUT_MS);
    if (status != 0)
        fprintf(stderr, "server exited with status %d (see %s)\n", status,
                shared.log_path);
    return status == 0 ? 0 : -1;
}

static void ping_inline_and_multibulk(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, shared.port);
    assert_int_equal(resp_client_send(&c, "PING\r\n", 6), 0);
    it_expect_reply(&c, "+PONG\r\n");
    assert_int_equal(resp_client_send(&c, "ping\n", 5), 0);
    it_expect_reply(&c, "+PONG\r\n");
    assert_int_equal(resp_client_send(&c, "PING \"hello world\"\r\n", 20), 0);
    it_expect_reply(&c, "$11\r\nhello world\r\n");
    it_expect(&c, "PING", "+PONG\r\n");
    it_expect(&c, "PING hi", "$2\r\nhi\r\n");
    it_expect(&c, "PING a b",
              "-ERR wrong number of arguments for 'ping' command\r\n");
    /* Empty lines and empty multibulks are skipped without a reply. */
    assert_int_equal(resp_client_send(&c, "\r\n*0\r\nPING\r\n", 12), 0);
    it_expect_reply(&c, "+PONG\r\n");
    resp_client_close(&c);
}

static void quit_replies_ok_then_closes(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, shared.port);
    it_expect(&c, "QUIT", "+OK\r\n");
    it_expect_closed(&c);
    resp_client_close(&c);
    it_still_serving(shared.port);
}

static void quit_in_a_pipeline_answers_what_came_before(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, shared.port);
    static const char in[] = "PING\r\n*1\r\n$4\r\nQUIT\r\nPING\r\n";
    assert_int_equal(resp_client_send(&c, in, sizeof(in) - 1), 0);
    it_expect_reply(&c, "+PONG\r\n");
    it_expect_reply(&c, "+OK\r\n");
    it_expect_closed(&c);
    assert_int_equal(c.in.len, 0); /* the PING after QUIT is not answered */
    resp_client_close(&c);
}

static void config_get_what_redis_benchmark_asks(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, shared.port);
    it_expect(&c, "CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    it_expect(&c, "CONFIG GET appendonly",
              "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    it_expect(&c, "CONFIG GET nosuchsetting", "*0\r\n");
    it_expect(&c, "CONFIG GET maxmemory", "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    it_expect(&c, "CONFIG SET maxmemory 1000000", "+OK\r\n");
    it_expect(&c, "CONFIG GET maxmemory",
              "*2\r\n$9\r\nmaxmemory\r\n$7\r\n1000000\r\n");
    it_expect(&c, "CONFIG SET maxmemory 0", "+OK\r\n");
    it_expect(&c, "CONFIG RESETSTAT", "+OK\r\n");
    resp_client_close(&c);
}

static void info_has_the_sections_tools_read(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, shared.port);
    it_expect(&c, "SET info:key 1", "+OK\r\n");
    const char *info = resp_client_call(&c, "INFO");
    assert_non_null(info);
    assert_true(info[0] == '$');
    static const char *const sections[] = {"# Server", "# Clients", "# Memory",
                                           "# Stats", "# Keyspace"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        if (strstr(info, sections[i]) == NULL)
            fail_msg("INFO lacks %s", sections[i]);
    char v[64];
    assert_true(it_info_field(info, "connected_clients", v, sizeof(v)));
    assert_true(atoi(v) >= 1);
    assert_true(it_info_field(info, "used_memory", v, sizeof(v)));
    assert_true(atol(v) > 0);
    assert_true(it_info_field(info, "tcp_port", v, sizeof(v)));
    assert_int_equal(atoi(v), shared.port);
    assert_true(it_info_field(info, "db0", v, sizeof(v)));
    assert_true(strncmp(v, "keys=1,expires=0", 16) == 0);
    /* One section asked for: only that one. */
    info = resp_client_call(&c, "INFO clients");
    assert_non_null(info);
    assert_non_null(strstr(info, "# Clients"));
    assert_null(strstr(info, "# Memory"));
    it_expect(&c, "DEL info:key", ":1\r\n");
    resp_client_close(&c);
}

static void client_setname_list_kill(void **state)
{
    (void)state;
    struct resp_client a, b;
    it_connect(&a, shared.port);
    it_connect(&b, shared.port);
    it_expect(&a, "CLIENT GETNAME", "$-1\r\n");
    it_expect(&a, "CLIENT SETNAME alpha", "+OK\r\n");
    it_expect(&a, "CLIENT GETNAME", "$5\r\nalpha\r\n");
    it_expect(&a, "CLIENT SETNAME \"a b\"",
              "-ERR Client names cannot contain spaces, newlines or special "
              "characters.\r\n");
    const char *r = resp_client_call(&b, "CLIENT ID");
    assert_non_null(r);
    assert_true(r[0] == ':');
    long long b_id = atoll(r + 1);
    r = resp_client_call(&a, "CLIENT LIST");
    assert_non_null(r);
    assert_non_null(strstr(r, " name=alpha "));
    char want_id[64];
    snprintf(want_id, sizeof(want_id), "id=%lld ", b_id);
    assert_non_null(strstr(r, want_id));
    assert_non_null(strstr(r, "addr=127.0.0.1:"));
    char kill[64];
    snprintf(kill, sizeof(kill), "CLIENT KILL ID %lld", b_id);
    it_expect(&a, kill, ":1\r\n");
    it_expect_closed(&b);
    it_expect(&a, kill, ":0\r\n");
    it_expect(&a, "CLIENT KILL 1.2.3.4:5", "-ERR No such client\r\n");
    it_expect(&a, "CLIENT NOSUCH",
              "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n");
    resp_client_close(&a);
    resp_client_close(&b);
}

static void select_bounds(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, shared.port);
    it_expect(&c, "SELECT 15", "+OK\r\n");
    it_expect(&c, "SET sel:k v15", "+OK\r\n");
    it_expect(&c, "SELECT 0", "+OK\r\n");
    it_expect(&c, "GET sel:k", "$-1\r\n");
    it_expect(&c, "SELECT 16", "-ERR DB index is out of range\r\n");
    it_expect(&c, "SELECT -1", "-ERR DB index is out of range\r\n");
    it_expect(&c, "SELECT x",
              "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "SELECT 15", "+OK\r\n");
    it_expect(&c, "GET sel:k", "$3\r\nv15\r\n");
    it_expect(&c, "FLUSHDB", "+OK\r\n");
    resp_client_close(&c);
}

static void sigterm_exits_zero(void **state)
{
    (void)state;
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, NULL), 0);
    struct resp_client c;
    it_connect(&c, s.port);
    it_expect(&c, "SET k v", "+OK\r\n");
    int status = server_proc_stop(&s, IT_STOP_TIMEOUT_MS);
    assert_int_equal(status, 0);
    it_expect_closed(&c);
    resp_client_close(&c);
}

static void shutdown_command_exits_cleanly(void **state)
{
    (void)state;
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, NULL), 0);
    struct resp_client c;
    it_connect(&c, s.port);
    assert_int_equal(resp_client_send_line(&c, "SHUTDOWN"), 0);
    /* No reply on success: the connection just closes. */
    it_expect_closed(&c);
    resp_client_close(&c);
    assert_int_equal(server_proc_wait_exit(&s, IT_STOP_TIMEOUT_MS), 0);
    assert_int_equal(s.exit_status, 0);
}

static void maxclients_refuses_one_more(void **state)
{
    (void)state;
    static const char *const args[] = {"--maxclients", "2", NULL};
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, args), 0);
    struct resp_client a, b, c;
    it_connect(&a, s.port);
    it_expect(&a, "PING", "+PONG\r\n");
    it_connect(&b, s.port);
    it_expect(&b, "PING", "+PONG\r\n");
    /* The third connection is told why, then closed; it sends nothing so
     * that the error is not lost to a reset. */
    it_connect(&c, s.port);
    it_expect_reply(&c, "-ERR max number of clients reached\r\n");
    it_expect_closed(&c);
    resp_client_close(&c);
    /* A freed slot can be used again. */
    resp_client_close(&b);
    int served = 0;
    for (int round = 0; round < 100 && !served; round++) {
        struct resp_client d;
        it_connect(&d, s.port);
        const char *r = resp_client_call(&d, "PING");
        served = r != NULL && strcmp(r, "+PONG\r\n") == 0;
        resp_client_close(&d);
        if (!served)
            server_proc_pause_ms(20); /* the server may not have seen b go */
    }
    assert_true(served);
    resp_client_close(&a);
    assert_int_equal(server_proc_stop(&s, IT_STOP_TIMEOUT_MS), 0);
}

static void idle_clients_time_out(void **state)
{
    (void)state;
    static const char *const args[] = {"--timeout", "1", NULL};
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, args), 0);
    struct resp_client c;
    it_connect(&c, s.port);
    it_expect(&c, "PING", "+PONG\r\n");
    /* Condition wait, bounded: the server must close the idle connection
     * (1 s timeout; we allow 10 s before calling it a failure). */
    assert_int_equal(resp_client_wait_closed(&c, 10000), 0);
    resp_client_close(&c);
    it_still_serving(s.port);
    assert_int_equal(server_proc_stop(&s, IT_STOP_TIMEOUT_MS), 0);
}

int main(void)
{
    const struct CMUnitTest shared_tests[] = {
        cmocka_unit_test(ping_inline_and_multibulk),
        cmocka_unit_test(quit_replies_ok_then_closes),
        cmocka_unit_test(quit_in_a_pipeline_answers_what_came_before),
        cmocka_unit_test(config_get_what_redis_benchmark_asks),
        cmocka_unit_test(info_has_the_sections_tools_read),
        cmocka_unit_test(client_setname_list_kill),
        cmocka_unit_test(select_bounds),
    };
    const struct CMUnitTest own_server_tests[] = {
        cmocka_unit_test(sigterm_exits_zero),
        cmocka_unit_test(shutdown_command_exits_cleanly),
        cmocka_unit_test(maxclients_refuses_one_more),
        cmocka_unit_test(idle_clients_time_out),
    };
    fprintf(stderr, "server under test: %s\n", server_proc_cairn_path());
    int failed = cmocka_run_group_tests_name("shared server", shared_tests,
                                             shared_start, shared_stop);
    failed += cmocka_run_group_tests_name("own server", own_server_tests, NULL,
                                          NULL);
    return failed;
}
