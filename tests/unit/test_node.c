/* test_node.c: sessions and dispatch through the fake io: pipelining, partial
 * reads, protocol errors, auth, output and query limits, backpressure,
 * timeouts, maxclients, server commands, active expiry under the fake clock,
 * and allocation failures while accepting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "kv/kv.h"
#include "node/io_fake.h"
#include "node/node.h"
#include "resp/resp.h"
#include "testlib.h"

#define WALL_START_MS 1700000000000LL

struct env {
    struct io_fake *f;
    struct node *n;
    struct node_config cfg;
    int shutdowns;
};

static void on_shutdown(void *ctx)
{
    ((struct env *)ctx)->shutdowns++;
}

static void env_start(struct env *e)
{
    e->f = io_fake_new(7, WALL_START_MS);
    assert_non_null(e->f);
    assert_int_equal(node_new(&e->n, io_fake_io(e->f), &e->cfg), 0);
    assert_int_equal(node_listen(e->n, "127.0.0.1", 6379), 0);
    node_set_shutdown_cb(e->n, on_shutdown, e);
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    config_init(&e->cfg);
    e->cfg.hash_seed = 1;
}

static void env_fini(struct env *e)
{
    node_free(e->n);
    io_fake_free(e->f);
}

/* Sends s and returns everything received since the last call. */
static const char *roundtrip(struct io_fake_conn *c, const char *s)
{
    static char out[1 << 16];
    io_fake_output_clear(c);
    io_fake_send_str(c, s);
    size_t len;
    const char *p = io_fake_output(c, &len);
    snprintf(out, sizeof(out), "%.*s", (int)len, p);
    return out;
}

static void ping_inline_and_multibulk(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "PING\r\n"), "+PONG\r\n");
    assert_string_equal(roundtrip(c, "*1\r\n$4\r\nping\r\n"), "+PONG\r\n");
    assert_string_equal(roundtrip(c, "*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n"),
                        "$2\r\nhi\r\n");
    assert_string_equal(roundtrip(c, "ECHO hello\r\n"), "$5\r\nhello\r\n");
    assert_string_equal(roundtrip(c, "\r\n"), ""); /* empty inline line */
    env_fini(&e);
}

static void pipeline_replies_in_order_with_one_write(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    size_t writes = io_fake_writes(c);
    assert_string_equal(roundtrip(c, "PING\r\nECHO a\r\n*2\r\n$4\r\necho\r\n"
                                     "$1\r\nb\r\nPING x\r\n"),
                        "+PONG\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n");
    assert_int_equal(io_fake_writes(c) - writes, 1);
    env_fini(&e);
}

static void partial_reads_byte_by_byte(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    io_fake_set_read_size(c, 1);
    assert_string_equal(
        roundtrip(c, "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING\r\n"),
        "$5\r\nhello\r\n+PONG\r\n");
    io_fake_set_read_size(c, 3);
    assert_string_equal(roundtrip(c, "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"),
                        "$0\r\n\r\n");
    env_fini(&e);
}

static void errors_match_redis(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "FOO a b\r\n"),
                        "-ERR unknown command 'FOO', with args beginning "
                        "with: 'a' 'b' \r\n");
    assert_string_equal(roundtrip(c, "foo\r\n"),
                        "-ERR unknown command 'foo', with args beginning "
                        "with: \r\n");
    assert_string_equal(roundtrip(c, "ECHO\r\n"),
                        "-ERR wrong number of arguments for 'echo' "
                        "command\r\n");
    assert_string_equal(roundtrip(c, "PING a b\r\n"),
                        "-ERR wrong number of arguments for 'ping' "
                        "command\r\n");
    assert_string_equal(roundtrip(c, "CLIENT FOO\r\n"),
                        "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
    assert_string_equal(roundtrip(c, "CLIENT SETNAME\r\n"),
                        "-ERR wrong number of arguments for 'client|setname' "
                        "command\r\n");
    assert_string_equal(roundtrip(c, "SELECT 16\r\n"),
                        "-ERR DB index is out of range\r\n");
    assert_string_equal(roundtrip(c, "SELECT x\r\n"),
                        "-ERR value is not an integer or out of range\r\n");
    assert_string_equal(roundtrip(c, "SELECT 15\r\n"), "+OK\r\n");
    assert_string_equal(roundtrip(c, "AUTH x\r\n"),
                        "-ERR AUTH <password> called without any password "
                        "configured for the default user. Are you sure your "
                        "configuration is correct?\r\n");
    assert_string_equal(roundtrip(c, "AUTH default x\r\n"), "+OK\r\n");
    assert_string_equal(roundtrip(c, "AUTH bob x\r\n"),
                        "-WRONGPASS invalid username-password pair or user "
                        "is disabled.\r\n");
    /* The argument part of an unknown command is cut near 128 bytes. */
    char line[400];
    snprintf(line, sizeof(line), "foo %0300d y\r\n", 0);
    const char *r = roundtrip(c, line);
    assert_true(strlen(r) < 200);
    assert_memory_equal(r, "-ERR unknown command 'foo', with args", 37);
    env_fini(&e);
}

static void protocol_error_replies_then_closes(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "PING\r\n*1\r\n$x\r\nPING\r\n"),
                        "+PONG\r\n-ERR Protocol error: invalid bulk "
                        "length\r\n");
    assert_true(io_fake_closed(c));
    assert_int_equal(node_client_count(e.n), 0);
    env_fini(&e);
}

static void auth_flow_with_requirepass(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    strcpy(e.cfg.requirepass, "secret");
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "PING\r\n"),
                        "-NOAUTH Authentication required.\r\n");
    /* Unknown commands and arity errors come before the auth check, for
     * subcommands too. */
    assert_string_equal(roundtrip(c, "NOPE\r\n"),
                        "-ERR unknown command 'NOPE', with args beginning "
                        "with: \r\n");
    assert_string_equal(roundtrip(c, "CLIENT FOO\r\n"),
                        "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
    assert_string_equal(roundtrip(c, "CONFIG GET\r\n"),
                        "-ERR wrong number of arguments for 'config|get' "
                        "command\r\n");
    assert_string_equal(roundtrip(c, "CLIENT LIST\r\n"),
                        "-NOAUTH Authentication required.\r\n");
    assert_string_equal(roundtrip(c, "HELLO 3\r\n"),
                        "-NOAUTH HELLO must be called with the client "
                        "already authenticated, otherwise the HELLO AUTH "
                        "<user> <pass> option can be used to "
                        "authenticate the client and select the RESP "
                        "protocol version at the same time\r\n");
    assert_string_equal(roundtrip(c, "AUTH wrong\r\n"),
                        "-WRONGPASS invalid username-password pair or user "
                        "is disabled.\r\n");
    assert_string_equal(roundtrip(c, "AUTH secretx\r\n"),
                        "-WRONGPASS invalid username-password pair or user "
                        "is disabled.\r\n");
    assert_string_equal(roundtrip(c, "AUTH secret\r\n"), "+OK\r\n");
    assert_string_equal(roundtrip(c, "PING\r\n"), "+PONG\r\n");
    /* HELLO with AUTH authenticates and switches to RESP3 at once. */
    struct io_fake_conn *d = io_fake_connect(e.f, "10.0.0.2:5000");
    const char *r = roundtrip(d, "HELLO 3 AUTH default secret SETNAME app\r\n");
    assert_memory_equal(r, "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 26);
    assert_non_null(strstr(r, "$5\r\nproto\r\n:3\r\n"));
    assert_string_equal(roundtrip(d, "CLIENT GETNAME\r\n"), "$3\r\napp\r\n");
    /* Clearing the password lets unauthenticated clients in, as Redis. */
    struct io_fake_conn *x = io_fake_connect(e.f, "10.0.0.3:5000");
    assert_string_equal(roundtrip(x, "PING\r\n"),
                        "-NOAUTH Authentication required.\r\n");
    assert_string_equal(roundtrip(c, "CONFIG SET requirepass \"\"\r\n"),
                        "+OK\r\n");
    assert_string_equal(roundtrip(x, "PING\r\n"), "+PONG\r\n");
    env_fini(&e);
}

static void hello_and_resp3(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "HELLO 4\r\n"),
                        "-NOPROTO unsupported protocol version\r\n");
    assert_string_equal(roundtrip(c, "HELLO x\r\n"),
                        "-ERR Protocol version is not an integer or out of "
                        "range\r\n");
    assert_string_equal(roundtrip(c, "HELLO 3 foo\r\n"),
                        "-ERR Syntax error in HELLO option 'foo'\r\n");
    const char *r = roundtrip(c, "HELLO\r\n");
    assert_memory_equal(r, "*14\r\n", 5); /* still RESP2 */
    r = roundtrip(c, "HELLO 3\r\n");
    assert_memory_equal(r, "%7\r\n", 4);
    assert_string_equal(roundtrip(c, "CLIENT GETNAME\r\n"), "_\r\n");
    assert_string_equal(roundtrip(c, "PING\r\n"), "+PONG\r\n");
    env_fini(&e);
}

static void http_requests_are_dropped_without_reply(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    strcpy(e.cfg.requirepass, "pw"); /* even before authentication */
    env_start(&e);
    struct io_fake_conn *a = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(a, "POST / HTTP/1.1\r\nHost: x\r\n"), "");
    assert_true(io_fake_closed(a));
    struct io_fake_conn *b = io_fake_connect(e.f, "10.0.0.1:5001");
    assert_string_equal(roundtrip(b, "host: example.com\r\n"), "");
    assert_true(io_fake_closed(b));
    env_fini(&e);
}

static void quit_replies_ok_and_closes(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "QUIT\r\nPING\r\n"), "+OK\r\n");
    assert_true(io_fake_closed(c));
    env_fini(&e);
}

static void output_limit_disconnects_a_client_that_does_not_read(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    e.cfg.cob_normal_hard = 4096;
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    io_fake_stall(c, true);
    char cmd[300];
    memset(cmd, 'v', sizeof(cmd));
    memcpy(cmd, "ECHO ", 5);
    strcpy(cmd + 250, "\r\n");
    int sent = 0;
    while (!io_fake_closed(c) && sent < 100) {
        io_fake_send_str(c, cmd);
        sent++;
    }
    assert_true(io_fake_closed(c));
    assert_true(sent > 4096 / 260 - 1);
    assert_true(sent < 100);
    assert_int_equal(node_client_count(e.n), 0);
    env_fini(&e);
}

static void backpressure_pauses_then_resumes(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    e.cfg.cob_normal_hard = 0; /* no disconnect: only backpressure */
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    io_fake_stall(c, true);
    enum { VAL = 60000, COUNT = 120 };
    static char cmd[VAL + 64];
    int hdr = snprintf(cmd, sizeof(cmd), "*2\r\n$4\r\nECHO\r\n$%d\r\n", VAL);
    memset(cmd + hdr, 'z', VAL);
    memcpy(cmd + hdr + VAL, "\r\n", 2);
    size_t cmd_len = (size_t)hdr + VAL + 2;
    for (int i = 0; i < COUNT; i++)
        io_fake_send(c, cmd, cmd_len);
    /* Over CAIRN_SESSION_PAUSE_BYTES pending: reading stopped, some
     * commands wait unexecuted. */
    assert_true(io_fake_paused(c));
    size_t out_len;
    io_fake_output(c, &out_len);
    size_t reply_len = 1 + 5 + 2 + VAL + 2;
    assert_true(out_len < COUNT * reply_len);
    assert_false(io_fake_closed(c));
    /* The client reads: everything completes. */
    for (int i = 0; i < 10 && io_fake_paused(c); i++) {
        io_fake_stall(c, false);
        io_fake_stall(c, true);
    }
    io_fake_stall(c, false);
    io_fake_output(c, &out_len);
    assert_int_equal(out_len, COUNT * reply_len);
    assert_false(io_fake_paused(c));
    env_fini(&e);
}

static void soft_output_limit_disconnects_after_its_seconds(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    e.cfg.cob_normal_hard = 0;
    e.cfg.cob_normal_soft = 1000;
    e.cfg.cob_normal_soft_s = 2;
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    io_fake_stall(c, true);
    char cmd[1700];
    snprintf(cmd, sizeof(cmd), "ECHO %0500d\r\nECHO %0500d\r\nECHO %0500d\r\n",
             1, 2, 3);
    io_fake_send_str(c, cmd);
    /* Over the soft limit, but not for 2 s yet. */
    io_fake_advance(e.f, 1500);
    assert_false(io_fake_closed(c));
    /* Nothing more is sent: cron alone notices the time is up. */
    io_fake_advance(e.f, 1500);
    assert_true(io_fake_closed(c));
    assert_int_equal(node_client_count(e.n), 0);
    env_fini(&e);
}

static void query_buffer_limit_closes(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    e.cfg.query_buf_max = 1024; /* below the config minimum, for the test */
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    io_fake_send_str(c, "*2\r\n$4\r\nECHO\r\n$3000\r\n");
    assert_false(io_fake_closed(c));
    char chunk[800];
    memset(chunk, 'q', sizeof(chunk));
    io_fake_send(c, chunk, sizeof(chunk));
    assert_false(io_fake_closed(c));
    io_fake_send(c, chunk, sizeof(chunk));
    assert_true(io_fake_closed(c));
    env_fini(&e);
}

static void idle_timeout_closes_client(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    e.cfg.timeout_s = 2;
    env_start(&e);
    struct io_fake_conn *busy = io_fake_connect(e.f, "10.0.0.1:5000");
    struct io_fake_conn *idle = io_fake_connect(e.f, "10.0.0.2:5000");
    for (int i = 0; i < 30; i++) {
        io_fake_advance(e.f, 100);
        roundtrip(busy, "PING\r\n");
    }
    assert_true(io_fake_closed(idle));
    assert_false(io_fake_closed(busy));
    assert_int_equal(node_client_count(e.n), 1);
    env_fini(&e);
}

static void maxclients_rejects_with_error(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    e.cfg.maxclients = 1;
    env_start(&e);
    struct io_fake_conn *a = io_fake_connect(e.f, "10.0.0.1:5000");
    struct io_fake_conn *b = io_fake_connect(e.f, "10.0.0.2:5000");
    assert_false(io_fake_closed(a));
    assert_true(io_fake_closed(b));
    size_t len;
    assert_string_equal(io_fake_output(b, &len),
                        "-ERR max number of clients reached\r\n");
    env_fini(&e);
}

static void client_commands(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *a = io_fake_connect(e.f, "10.0.0.1:5000");
    struct io_fake_conn *b = io_fake_connect(e.f, "10.0.0.2:6000");
    assert_string_equal(roundtrip(a, "CLIENT ID\r\n"), ":1\r\n");
    assert_string_equal(roundtrip(b, "CLIENT ID\r\n"), ":2\r\n");
    assert_string_equal(roundtrip(a, "CLIENT GETNAME\r\n"), "$-1\r\n");
    assert_string_equal(roundtrip(a, "CLIENT SETNAME \"a b\"\r\n"),
                        "-ERR Client names cannot contain spaces, newlines "
                        "or special characters.\r\n");
    assert_string_equal(roundtrip(a, "CLIENT SETNAME alpha\r\n"), "+OK\r\n");
    assert_string_equal(roundtrip(a, "CLIENT GETNAME\r\n"),
                        "$5\r\nalpha\r\n");
    assert_string_equal(roundtrip(a, "CLIENT SETINFO lib-name redis-py\r\n"),
                        "+OK\r\n");
    const char *r = roundtrip(a, "CLIENT LIST\r\n");
    assert_non_null(strstr(r, "id=1 addr=10.0.0.1:5000 laddr=127.0.0.1:6379"));
    assert_non_null(strstr(r, "name=alpha"));
    assert_non_null(strstr(r, " cmd=client|list user=default"));
    assert_non_null(strstr(r, "id=2 addr=10.0.0.2:6000"));
    r = roundtrip(a, "CLIENT INFO\r\n");
    assert_non_null(strstr(r, "id=1 "));
    assert_null(strstr(r, "id=2 "));
    assert_string_equal(roundtrip(a, "CLIENT KILL 9.9.9.9:1\r\n"),
                        "-ERR No such client\r\n");
    assert_string_equal(roundtrip(a, "CLIENT KILL ID 2\r\n"), ":1\r\n");
    assert_true(io_fake_closed(b));
    assert_string_equal(roundtrip(a, "CLIENT KILL ID 1\r\n"), ":0\r\n");
    assert_string_equal(roundtrip(a, "CLIENT KILL ID 1 SKIPME no\r\n"),
                        ":1\r\n");
    assert_true(io_fake_closed(a));
    assert_int_equal(node_client_count(e.n), 0);
    env_fini(&e);
}

static void config_get_set(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "CONFIG GET save\r\n"),
                        "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    assert_string_equal(roundtrip(c, "CONFIG GET appendonly\r\n"),
                        "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    assert_string_equal(roundtrip(c, "CONFIG GET nothing-like-it\r\n"),
                        "*0\r\n");
    assert_string_equal(roundtrip(c, "CONFIG SET maxmemory 1mb\r\n"),
                        "+OK\r\n");
    assert_string_equal(roundtrip(c, "CONFIG GET MAXMEMORY\r\n"),
                        "*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n");
    assert_string_equal(roundtrip(c, "CONFIG SET maxmemory abc\r\n"),
                        "-ERR CONFIG SET failed (possibly related to "
                        "argument 'maxmemory') - argument must be a memory "
                        "value\r\n");
    assert_string_equal(roundtrip(c, "CONFIG SET foo bar\r\n"),
                        "-ERR Unknown option or number of arguments for "
                        "CONFIG SET - 'foo'\r\n");
    assert_string_equal(roundtrip(c, "CONFIG SET port 1\r\n"),
                        "-ERR CONFIG SET failed (possibly related to "
                        "argument 'port') - can't set immutable config\r\n");
    /* All or nothing: the bad second pair leaves timeout unchanged. */
    assert_string_equal(roundtrip(c, "CONFIG SET timeout 5 hz x\r\n"),
                        "-ERR CONFIG SET failed (possibly related to "
                        "argument 'hz') - argument couldn't be parsed into "
                        "an integer\r\n");
    assert_int_equal(node_config(e.n)->timeout_s, 0);
    const char *r = roundtrip(c, "CONFIG GET maxmemory*\r\n");
    assert_memory_equal(r, "*6\r\n", 4);
    assert_string_equal(roundtrip(c, "CONFIG RESETSTAT\r\n"), "+OK\r\n");
    env_fini(&e);
}

static void lowering_limits_below_buffered_bytes_is_safe(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    /* Replies already buffered in the same batch exceed the new limit. */
    char cmd[3000];
    snprintf(cmd, sizeof(cmd),
             "ECHO %02000d\r\nCONFIG SET client-output-buffer-limit "
             "\"normal 100 0 0\"\r\nECHO %0200d\r\n", 1, 2);
    io_fake_send_str(c, cmd);
    /* The client is dropped for its output, never a buffer overrun. */
    assert_true(io_fake_closed(c));
    struct io_fake_conn *d = io_fake_connect(e.f, "10.0.0.2:5000");
    assert_string_equal(roundtrip(d, "PING\r\n"), "+PONG\r\n");
    env_fini(&e);
}

static void info_and_command(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    const char *r = roundtrip(c, "INFO\r\n");
    assert_non_null(strstr(r, "# Server\r\nredis_version:"));
    assert_non_null(strstr(r, "\r\n\r\n# Clients\r\nconnected_clients:1\r\n"));
    assert_non_null(strstr(r, "# Keyspace\r\n"));
    r = roundtrip(c, "INFO clients\r\n");
    assert_null(strstr(r, "# Server"));
    assert_non_null(strstr(r, "# Clients"));
    r = roundtrip(c, "INFO nosuchsection\r\n");
    assert_string_equal(r, "$0\r\n\r\n");
    r = roundtrip(c, "COMMAND COUNT\r\n");
    assert_true(r[0] == ':' && atoi(r + 1) >= 13);
    r = roundtrip(c, "COMMAND DOCS ping\r\n");
    assert_memory_equal(r, "*2\r\n$4\r\nping\r\n*6\r\n", 18);
    r = roundtrip(c, "COMMAND INFO nope ping\r\n");
    assert_memory_equal(r, "*2\r\n$-1\r\n*10\r\n$4\r\nping\r\n:-1\r\n", 29);
    r = roundtrip(c, "TIME\r\n");
    assert_memory_equal(r, "*2\r\n$10\r\n1700000000\r\n", 21);
    env_fini(&e);
}

static void shutdown_calls_the_host(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "SHUTDOWN BOGUS\r\n"),
                        "-ERR syntax error\r\n");
    assert_int_equal(e.shutdowns, 0);
    assert_string_equal(roundtrip(c, "SHUTDOWN NOSAVE\r\n"), "");
    assert_int_equal(e.shutdowns, 1);
    assert_true(io_fake_closed(c));
    env_fini(&e);
}

static void active_expiry_under_fake_clock(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct kv *kv = node_kv(e.n);
    int64_t now = WALL_START_MS;
    for (int i = 0; i < 200; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "k%d", i);
        int64_t expire = i < 150 ? now + 1000 : KV_NO_EXPIRE;
        assert_int_equal(kv_set(kv, 0, key, (size_t)n, "v", 1, expire, 0,
                                now), 0);
    }
    assert_int_equal(kv_dbsize(kv, 0), 200);
    io_fake_advance(e.f, 900);
    assert_int_equal(kv_dbsize(kv, 0), 200); /* not yet due */
    /* No client touches the keys: cron alone removes them. */
    io_fake_advance(e.f, 3000);
    assert_int_equal(kv_dbsize(kv, 0), 50);
    struct kv_stats ks;
    kv_stats_get(kv, &ks);
    assert_int_equal(ks.expired_keys, 150);
    env_fini(&e);
}

static void expiry_through_commands_without_sleeping(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "SET a 1 PX 1500\r\n"), "+OK\r\n");
    assert_string_equal(roundtrip(c, "SET b 2 EX 100\r\n"), "+OK\r\n");
    assert_string_equal(roundtrip(c, "GET a\r\n"), "$1\r\n1\r\n");
    io_fake_advance(e.f, 1000);
    assert_string_equal(roundtrip(c, "GET a\r\n"), "$1\r\n1\r\n");
    io_fake_advance(e.f, 1000);
    assert_string_equal(roundtrip(c, "GET a\r\n"), "$-1\r\n");
    assert_string_equal(roundtrip(c, "GET b\r\n"), "$1\r\n2\r\n");
    assert_int_equal(kv_dbsize(node_kv(e.n), 0), 1);
    env_fini(&e);
}

static void oom_refuses_denyoom_commands_only(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_string_equal(roundtrip(c, "SET k v\r\n"), "+OK\r\n");
    /* A limit far below what the cache already holds, noeviction. */
    assert_string_equal(roundtrip(c, "CONFIG SET maxmemory 1\r\n"),
                        "+OK\r\n");
    assert_string_equal(roundtrip(c, "SET k2 v\r\n"),
                        "-OOM command not allowed when used memory > "
                        "'maxmemory'.\r\n");
    assert_string_equal(roundtrip(c, "GET k\r\n"), "$1\r\nv\r\n");
    assert_string_equal(roundtrip(c, "DEL k\r\n"), ":1\r\n");
    /* With an eviction policy the write goes through. */
    assert_string_equal(
        roundtrip(c, "CONFIG SET maxmemory-policy allkeys-random\r\n"),
        "+OK\r\n");
    assert_string_equal(roundtrip(c, "PING\r\n"), "+PONG\r\n");
    env_fini(&e);
}

/* The apply path Raft will use: the same writes with the same timestamps
 * give the same state on two nodes, whatever their clocks say. */
static void apply_write_is_deterministic(void **state)
{
    (void)state;
    struct env a, b;
    env_init(&a);
    env_init(&b);
    env_start(&a);
    env_start(&b);
    io_fake_advance(b.f, 123456); /* b's own clock is elsewhere */
    static const char *const cmds[][4] = {
        {"SET", "x", "1", NULL},      {"INCR", "x", NULL, NULL},
        {"SET", "y", "hello", NULL},  {"EXPIRE", "y", "10", NULL},
        {"MSET", "p", "q", NULL},     {"DEL", "p", NULL, NULL},
    };
    for (int node = 0; node < 2; node++) {
        struct env *e = node == 0 ? &a : &b;
        struct buf out;
        buf_init(&out, 0);
        struct resp_writer w;
        resp_writer_init(&w, &out, 2);
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            size_t lens[4];
            int argc = 0;
            while (argc < 4 && cmds[i][argc] != NULL) {
                lens[argc] = strlen(cmds[i][argc]);
                argc++;
            }
            node_apply_write(e->n, 2, argc, cmds[i], lens,
                             WALL_START_MS + (int64_t)i, &w);
        }
        assert_false(w.failed);
        assert_int_equal(out.len, strlen("+OK\r\n:2\r\n+OK\r\n:1\r\n"
                                         "+OK\r\n:1\r\n"));
        assert_memory_equal(out.data, "+OK\r\n:2\r\n+OK\r\n:1\r\n"
                                      "+OK\r\n:1\r\n", out.len);
        buf_free(&out);
    }
    assert_int_equal(kv_dbsize(node_kv(a.n), 2), 2);
    assert_true(kv_digest(node_kv(a.n)) == kv_digest(node_kv(b.n)));
    env_fini(&a);
    env_fini(&b);
}

static void peer_hangup_frees_session(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    env_start(&e);
    struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
    assert_int_equal(node_client_count(e.n), 1);
    io_fake_send_str(c, "*2\r\n$4\r\nECHO\r\n$5\r\nhel");
    io_fake_hangup(c);
    assert_true(io_fake_closed(c));
    assert_int_equal(node_client_count(e.n), 0);
    env_fini(&e);
}

static void accept_survives_allocation_failures(void **state)
{
    (void)state;
    for (long fail_at = 0; fail_at < 64; fail_at++) {
        struct env e;
        env_init(&e);
        env_start(&e);
        test_alloc_fail_after(fail_at);
        struct io_fake_conn *c = io_fake_connect(e.f, "10.0.0.1:5000");
        int sent = -1;
        if (c != NULL)
            sent = io_fake_send_str(c, "PING\r\nECHO abc\r\n");
        test_alloc_reset();
        bool ok = sent == 0 && !io_fake_closed(c);
        if (ok) {
            size_t len;
            const char *out = io_fake_output(c, &len);
            /* Either complete replies or the connection was closed. */
            assert_string_equal(out, "+PONG\r\n$3\r\nabc\r\n");
        }
        env_fini(&e);
        if (ok && test_alloc_failures() == 0)
            break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ping_inline_and_multibulk),
        cmocka_unit_test(pipeline_replies_in_order_with_one_write),
        cmocka_unit_test(partial_reads_byte_by_byte),
        cmocka_unit_test(errors_match_redis),
        cmocka_unit_test(protocol_error_replies_then_closes),
        cmocka_unit_test(auth_flow_with_requirepass),
        cmocka_unit_test(hello_and_resp3),
        cmocka_unit_test(http_requests_are_dropped_without_reply),
        cmocka_unit_test(quit_replies_ok_and_closes),
        cmocka_unit_test(output_limit_disconnects_a_client_that_does_not_read),
        cmocka_unit_test(backpressure_pauses_then_resumes),
        cmocka_unit_test(soft_output_limit_disconnects_after_its_seconds),
        cmocka_unit_test(query_buffer_limit_closes),
        cmocka_unit_test(idle_timeout_closes_client),
        cmocka_unit_test(maxclients_rejects_with_error),
        cmocka_unit_test(client_commands),
        cmocka_unit_test(config_get_set),
        cmocka_unit_test(lowering_limits_below_buffered_bytes_is_safe),
        cmocka_unit_test(info_and_command),
        cmocka_unit_test(shutdown_calls_the_host),
        cmocka_unit_test(active_expiry_under_fake_clock),
        cmocka_unit_test(expiry_through_commands_without_sleeping),
        cmocka_unit_test(oom_refuses_denyoom_commands_only),
        cmocka_unit_test(apply_write_is_deterministic),
        cmocka_unit_test(peer_hangup_frees_session),
        cmocka_unit_test(accept_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
