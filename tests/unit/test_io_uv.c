/* test_io_uv.c: the libuv binding of io.h against a real loop: timer order,
 * TCP echo with queued output and backpressure, EOF, refused connects, file
 * round trips in a temporary directory, and the rule that no callback runs
 * inside the call that registered it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "io/io_uv.h"
#include "testlib.h"

/* Set while a test is inside an io_* call; every callback checks it. */
static int in_io_call;

#define CALL(expr)        \
    do {                  \
        in_io_call = 1;   \
        expr;             \
        in_io_call = 0;   \
    } while (0)

struct env {
    uv_loop_t loop;
    struct io_uv *u;
    struct io *io;
};

static void env_init(struct env *e)
{
    assert_int_equal(uv_loop_init(&e->loop), 0);
    assert_int_equal(io_uv_init(&e->u, &e->loop, 42), 0);
    e->io = io_uv_io(e->u);
}

static void env_fini(struct env *e)
{
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(io_uv_handles_open(e->u), 0);
    io_uv_free(e->u);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

/* ---- timers ---- */

static int fired[8];
static int fired_count;

static void timer_cb(void *ctx)
{
    assert_false(in_io_call);
    fired[fired_count++] = (int)(intptr_t)ctx;
}

static void timers_fire_in_deadline_order(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    fired_count = 0;
    struct io_timer *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = io_timer_new(e.io, (void *)(intptr_t)(i + 1), timer_cb);
    CALL(io_timer_start(t[0], 3));
    CALL(io_timer_start(t[1], 1));
    CALL(io_timer_start(t[2], 2));
    CALL(io_timer_start(t[3], 0));
    io_timer_stop(t[3]); /* a stopped timer never fires */
    assert_int_equal(fired_count, 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(fired_count, 3);
    assert_int_equal(fired[0], 2);
    assert_int_equal(fired[1], 3);
    assert_int_equal(fired[2], 1);
    /* Freed while armed: never fires. */
    io_timer_start(t[0], 0);
    for (int i = 0; i < 4; i++)
        io_timer_free(t[i]);
    assert_true(io_random_seed(e.io) == 42);
    env_fini(&e);
    assert_int_equal(fired_count, 3);
}

static void clocks_are_sane(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    uint64_t a = io_now_us(e.io);
    uint64_t b = io_now_us(e.io);
    assert_true(b >= a);
    /* Wall clock after 2020-01-01 and before 2200. */
    assert_true(io_wall_ms(e.io) > 1577836800000LL);
    assert_true(io_wall_ms(e.io) < 7258118400000LL);
    env_fini(&e);
}

/* ---- tcp echo ---- */

#define ECHO_BYTES (8u * 1024 * 1024)

struct echo {
    struct env *e;
    struct io_listener *l;
    struct io_conn *server_side;
    struct io_conn *client;
    char *sent;
    char *got;
    size_t got_len;
    int server_eof;
    int client_eof;
    int drains;
    int paused_once;
    size_t echoed;
};

static void srv_read(void *ctx, struct io_conn *c, const char *data,
                     size_t len)
{
    struct echo *t = ctx;
    assert_false(in_io_call);
    CALL(assert_int_equal(io_conn_write(c, data, len), 0));
    t->echoed += len;
    /* The client does not read until the server's output backs up: then the
     * server pauses its reading (backpressure) and lets the client read. */
    if (!t->paused_once && io_conn_write_pending(c) > 0) {
        t->paused_once = 1;
        io_conn_read_pause(c);
        io_conn_read_resume(t->client);
    } else if (t->echoed == ECHO_BYTES) {
        io_conn_read_resume(t->client); /* kernel buffers took it all */
    }
}

static void srv_drain(void *ctx, struct io_conn *c)
{
    struct echo *t = ctx;
    assert_false(in_io_call);
    assert_int_equal(io_conn_write_pending(c), 0);
    t->drains++;
    io_conn_read_resume(c);
}

static void srv_eof(void *ctx, struct io_conn *c, int status)
{
    struct echo *t = ctx;
    assert_int_equal(status, CAIRN_ECLOSED);
    t->server_eof++;
    io_conn_close(c);
    io_listener_close(t->l);
}

static void on_accept(void *ctx, struct io_conn *c)
{
    struct echo *t = ctx;
    static const struct io_conn_handlers h = {srv_read, srv_eof, srv_drain};
    assert_false(in_io_call);
    t->server_side = c;
    char name[64];
    assert_int_equal(io_conn_peer_name(c, name, sizeof(name)), 0);
    assert_memory_equal(name, "127.0.0.1:", 10);
    io_conn_start(c, t, &h);
}

static void cli_read(void *ctx, struct io_conn *c, const char *data,
                     size_t len)
{
    struct echo *t = ctx;
    assert_true(t->got_len + len <= ECHO_BYTES);
    memcpy(t->got + t->got_len, data, len);
    t->got_len += len;
    if (t->got_len == ECHO_BYTES) {
        io_conn_close(c); /* the server sees EOF next */
    }
}

static void cli_eof(void *ctx, struct io_conn *c, int status)
{
    struct echo *t = ctx;
    (void)status;
    t->client_eof++;
    io_conn_close(c);
}

static void on_connect(void *ctx, struct io_conn *c, int status)
{
    struct echo *t = ctx;
    static const struct io_conn_handlers h = {cli_read, cli_eof, NULL};
    assert_false(in_io_call);
    assert_int_equal(status, 0);
    assert_non_null(c);
    t->client = c;
    io_conn_start(c, t, &h);
    io_conn_read_pause(c);
    /* Large enough that the kernel cannot take it at once: exercises the
     * queue.  Written in pieces to exercise appends behind a write. */
    for (size_t off = 0; off < ECHO_BYTES; off += 256 * 1024)
        CALL(assert_int_equal(io_conn_write(c, t->sent + off, 256 * 1024), 0));
}

static void tcp_echo_round_trip(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct echo t = {.e = &e};
    t.sent = malloc(ECHO_BYTES);
    t.got = malloc(ECHO_BYTES);
    for (size_t i = 0; i < ECHO_BYTES; i++)
        t.sent[i] = (char)(i * 7 + (i >> 11));
    CALL(assert_int_equal(io_listen(e.io, "127.0.0.1", 0, 16, &t, on_accept,
                                    &t.l), 0));
    uint16_t port = io_uv_listener_port(t.l);
    assert_true(port != 0);
    CALL(assert_int_equal(io_connect(e.io, "127.0.0.1", port, &t, on_connect),
                          0));
    assert_null(t.client); /* not from inside io_connect */
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.got_len, ECHO_BYTES);
    assert_memory_equal(t.got, t.sent, ECHO_BYTES);
    assert_int_equal(t.server_eof, 1);
    assert_true(t.paused_once);
    assert_true(t.drains >= 1);
    env_fini(&e);
    free(t.sent);
    free(t.got);
}

static int refused_status;

static void on_refused(void *ctx, struct io_conn *c, int status)
{
    (void)ctx;
    assert_false(in_io_call);
    assert_null(c);
    refused_status = status;
}

static void on_accept_close(void *ctx, struct io_conn *c)
{
    (void)ctx;
    io_conn_close(c);
}

static void connect_refused_reports_error(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    /* Find a free port by listening and closing. */
    struct io_listener *l;
    assert_int_equal(io_listen(e.io, "127.0.0.1", 0, 1, NULL, on_accept_close,
                               &l), 0);
    uint16_t port = io_uv_listener_port(l);
    io_listener_close(l);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    refused_status = 1;
    CALL(assert_int_equal(io_connect(e.io, "127.0.0.1", port, NULL,
                                     on_refused), 0));
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_true(refused_status < 0);
    assert_int_equal(io_connect(e.io, "not an address", 1, NULL, on_refused),
                     CAIRN_EADDR);
    env_fini(&e);
}

static void listen_on_busy_port_fails(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct io_listener *a, *b = NULL;
    assert_int_equal(io_listen(e.io, "127.0.0.1", 0, 1, NULL, on_accept_close,
                               &a), 0);
    uint16_t port = io_uv_listener_port(a);
    assert_int_equal(io_listen(e.io, "127.0.0.1", port, 1, NULL,
                               on_accept_close, &b), CAIRN_EADDR);
    assert_null(b);
    io_listener_close(a);
    env_fini(&e);
}

/* ---- files ---- */

struct filetest {
    struct env *e;
    char dir[128];
    char path_a[160];
    char path_b[160];
    struct io_file *f;
    char readback[64];
    int step;
    int status_bad;
};

static void file_step(struct filetest *t);

static void on_file_done(void *ctx, int status, size_t n)
{
    struct filetest *t = ctx;
    assert_false(in_io_call);
    if (status != 0)
        t->status_bad++;
    if (t->step == 6) {
        assert_int_equal(n, 11);
        assert_memory_equal(t->readback, "hello cairn", 11);
    }
    file_step(t);
}

static void on_file_open(void *ctx, struct io_file *f, int status)
{
    struct filetest *t = ctx;
    assert_false(in_io_call);
    assert_int_equal(status, 0);
    t->f = f;
    file_step(t);
}

/* The sequence: open A, write, fsync, close, rename A->B, open B, read,
 * close, unlink B, then check a missing file reports ENOTFOUND. */
static void file_step(struct filetest *t)
{
    struct io *io = t->e->io;
    int step = t->step++;
    in_io_call = 1;
    switch (step) {
    case 0:
        assert_int_equal(io_file_open(io, t->path_a, IO_OPEN_WRITE |
                                      IO_OPEN_CREATE | IO_OPEN_TRUNCATE, t,
                                      on_file_open), 0);
        break;
    case 1:
        assert_int_equal(io_file_write(t->f, 0, "hello cairn", 11, t,
                                       on_file_done), 0);
        break;
    case 2:
        assert_int_equal(io_file_fsync(t->f, t, on_file_done), 0);
        break;
    case 3:
        io_file_close(t->f);
        assert_int_equal(io_rename(io, t->path_a, t->path_b, t, on_file_done),
                         0);
        break;
    case 4:
        assert_int_equal(io_file_open(io, t->path_b, IO_OPEN_READ, t,
                                      on_file_open), 0);
        break;
    case 5:
        assert_int_equal(io_file_read(t->f, 0, t->readback,
                                      sizeof(t->readback), t, on_file_done),
                         0);
        break;
    case 6:
        io_file_close(t->f);
        assert_int_equal(io_unlink(io, t->path_b, t, on_file_done), 0);
        break;
    case 7:
        assert_int_equal(io_unlink(io, t->path_b, t, on_file_done), 0);
        break;
    default:
        break;
    }
    in_io_call = 0;
}

static void files_round_trip(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct filetest t = {.e = &e};
    snprintf(t.dir, sizeof(t.dir), "/tmp/cairn-test-io-XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    snprintf(t.path_a, sizeof(t.path_a), "%s/a", t.dir);
    snprintf(t.path_b, sizeof(t.path_b), "%s/b", t.dir);
    file_step(&t);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.step, 9);
    /* Only the second unlink of the missing file failed. */
    assert_int_equal(t.status_bad, 1);
    assert_int_equal(access(t.path_a, F_OK), -1);
    assert_int_equal(access(t.path_b, F_OK), -1);
    rmdir(t.dir);
    env_fini(&e);
}

static int open_missing_status;

static void on_open_missing(void *ctx, struct io_file *f, int status)
{
    (void)ctx;
    assert_null(f);
    open_missing_status = status;
}

static void open_missing_file_reports_not_found(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    assert_int_equal(io_file_open(e.io, "/nonexistent-cairn/x", IO_OPEN_READ,
                                  NULL, on_open_missing), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(open_missing_status, CAIRN_ENOTFOUND);
    env_fini(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_deadline_order),
        cmocka_unit_test(clocks_are_sane),
        cmocka_unit_test(tcp_echo_round_trip),
        cmocka_unit_test(connect_refused_reports_error),
        cmocka_unit_test(listen_on_busy_port_fails),
        cmocka_unit_test(files_round_trip),
        cmocka_unit_test(open_missing_file_reports_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
