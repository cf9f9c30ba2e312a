/*
 * io_fake.c: see io_fake.h.
 *
 * Invariants: no callback is delivered from inside an io_ops function (only
 * from io_fake_advance/poll/send/connect/hangup, which the test calls between
 * steps); a closed conn or freed timer never gets a callback; time never goes
 * backwards.  Loops are bounded: timer firing per advance by
 * FAKE_TIMER_FIRES_MAX, polling by the bytes and flags pending.
 */
#include "node/io_fake.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"

/* Timer callbacks one advance may run: a timer re-arming itself with delay 0
 * must not spin forever. */
#define FAKE_TIMER_FIRES_MAX 1000000
#define FAKE_TIMERS_MAX 256
#define FAKE_READ_SIZE_MAX (64 * 1024)

struct fake_timer {
    struct io_timer base;
    void *ctx;
    io_timer_cb cb;
    bool armed;
    uint64_t deadline_us;
    uint64_t seq;
};

struct fake_listener {
    struct io_listener base;
    void *ctx;
    io_accept_cb cb;
};

struct io_fake_conn {
    struct io_conn base;
    struct io_fake *f;
    struct io_fake_conn *next;
    void *ctx;
    struct io_conn_handlers h;
    bool started;
    bool paused;
    bool closed;
    bool stalled;
    bool eof_pending;
    bool drain_pending;
    size_t pending;
    size_t writes;
    size_t read_size;
    struct buf inbox;
    struct buf output;
    char peer[64];
};

struct io_fake {
    struct io io;
    uint64_t now_us;
    int64_t wall_start_ms;
    uint64_t seed;
    uint64_t timer_seq;
    struct fake_timer *timers[FAKE_TIMERS_MAX];
    size_t timers_count;
    struct fake_listener *listener;
    struct io_fake_conn *conns;
    char scratch[FAKE_READ_SIZE_MAX]; /* one read's bytes, as a socket */
};

static struct io_fake *to_fake(struct io *io)
{
    return (struct io_fake *)(void *)io;
}

static uint64_t fake_now_ms(struct io *io)
{
    return to_fake(io)->now_us / 1000;
}

static uint64_t fake_now_us(struct io *io)
{
    return to_fake(io)->now_us;
}

static int64_t fake_wall_ms(struct io *io)
{
    struct io_fake *f = to_fake(io);
    return f->wall_start_ms + (int64_t)(f->now_us / 1000);
}

static uint64_t fake_random_seed(struct io *io)
{
    return to_fake(io)->seed;
}

static struct io_timer *fake_timer_new(struct io *io, void *ctx,
                                       io_timer_cb cb)
{
    struct io_fake *f = to_fake(io);
    if (f->timers_count == FAKE_TIMERS_MAX)
        return NULL;
    struct fake_timer *t = cairn_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->base.io = io;
    t->ctx = ctx;
    t->cb = cb;
    f->timers[f->timers_count++] = t;
    return &t->base;
}

static void fake_timer_start(struct io_timer *base, uint64_t delay_ms)
{
    struct fake_timer *t = (struct fake_timer *)(void *)base;
    struct io_fake *f = to_fake(base->io);
    t->armed = true;
    t->deadline_us = f->now_us + delay_ms * 1000;
    t->seq = ++f->timer_seq;
}

static void fake_timer_stop(struct io_timer *base)
{
    ((struct fake_timer *)(void *)base)->armed = false;
}

static void fake_timer_free(struct io_timer *base)
{
    struct io_fake *f = to_fake(base->io);
    for (size_t i = 0; i < f->timers_count; i++) {
        if (&f->timers[i]->base == base) {
            f->timers[i] = f->timers[--f->timers_count];
            cairn_free(base);
            return;
        }
    }
    UNREACHABLE();
}

static int fake_listen(struct io *io, const char *host, uint16_t port,
                       int backlog, void *ctx, io_accept_cb cb,
                       struct io_listener **out)
{
    (void)host;
    (void)port;
    (void)backlog;
    struct io_fake *f = to_fake(io);
    if (f->listener != NULL)
        return CAIRN_EADDR;
    struct fake_listener *l = cairn_calloc(1, sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    l->base.io = io;
    l->ctx = ctx;
    l->cb = cb;
    f->listener = l;
    *out = &l->base;
    return 0;
}

static void fake_listener_close(struct io_listener *base)
{
    struct io_fake *f = to_fake(base->io);
    ASSERT(&f->listener->base == base);
    cairn_free(f->listener);
    f->listener = NULL;
}

static int fake_connect(struct io *io, const char *host, uint16_t port,
                        void *ctx, io_connect_cb cb)
{
    (void)io;
    (void)host;
    (void)port;
    (void)ctx;
    (void)cb;
    return CAIRN_EADDR;
}

static struct io_fake_conn *to_conn(struct io_conn *c)
{
    return (struct io_fake_conn *)(void *)c;
}

static void fake_conn_start(struct io_conn *base, void *ctx,
                            const struct io_conn_handlers *h)
{
    struct io_fake_conn *c = to_conn(base);
    ASSERT(!c->started);
    ASSERT(!c->closed);
    c->ctx = ctx;
    c->h = *h;
    c->started = true;
}

static void fake_conn_read_pause(struct io_conn *base)
{
    to_conn(base)->paused = true;
}

static void fake_conn_read_resume(struct io_conn *base)
{
    to_conn(base)->paused = false;
}

static int fake_conn_write(struct io_conn *base, const void *data, size_t len)
{
    struct io_fake_conn *c = to_conn(base);
    ASSERT(!c->closed);
    int rc = buf_append(&c->output, data, len);
    if (rc != 0)
        return rc;
    c->writes++;
    if (c->stalled)
        c->pending += len;
    return 0;
}

static size_t fake_conn_write_pending(struct io_conn *base)
{
    return to_conn(base)->pending;
}

static int fake_conn_peer_name(struct io_conn *base, char *out, size_t n)
{
    snprintf(out, n, "%s", to_conn(base)->peer);
    return 0;
}

static int fake_conn_local_name(struct io_conn *base, char *out, size_t n)
{
    (void)base;
    snprintf(out, n, "127.0.0.1:6379");
    return 0;
}

static void fake_conn_close(struct io_conn *base)
{
    struct io_fake_conn *c = to_conn(base);
    ASSERT(!c->closed);
    c->closed = true;
}

static int fake_file_open(struct io *io, const char *path, int flags,
                          void *ctx, io_file_open_cb cb)
{
    (void)io, (void)path, (void)flags, (void)ctx, (void)cb;
    return CAIRN_EIO;
}

static int fake_file_read(struct io_file *f, uint64_t offset, void *buf,
                          size_t len, void *ctx, io_file_cb cb)
{
    (void)f, (void)offset, (void)buf, (void)len, (void)ctx, (void)cb;
    return CAIRN_EIO;
}

static int fake_file_write(struct io_file *f, uint64_t offset,
                           const void *data, size_t len, void *ctx,
                           io_file_cb cb)
{
    (void)f, (void)offset, (void)data, (void)len, (void)ctx, (void)cb;
    return CAIRN_EIO;
}

static int fake_file_fsync(struct io_file *f, void *ctx, io_file_cb cb)
{
    (void)f, (void)ctx, (void)cb;
    return CAIRN_EIO;
}

static void fake_file_close(struct io_file *f)
{
    (void)f;
    UNREACHABLE(); /* no file is ever opened */
}

static int fake_rename(struct io *io, const char *from, const char *to,
                       void *ctx, io_file_cb cb)
{
    (void)io, (void)from, (void)to, (void)ctx, (void)cb;
    return CAIRN_EIO;
}

static int fake_unlink(struct io *io, const char *path, void *ctx,
                       io_file_cb cb)
{
    (void)io, (void)path, (void)ctx, (void)cb;
    return CAIRN_EIO;
}

static const struct io_ops fake_ops = {
    .now_ms = fake_now_ms,
    .now_us = fake_now_us,
    .wall_ms = fake_wall_ms,
    .random_seed = fake_random_seed,
    .timer_new = fake_timer_new,
    .timer_start = fake_timer_start,
    .timer_stop = fake_timer_stop,
    .timer_free = fake_timer_free,
    .listen = fake_listen,
    .listener_close = fake_listener_close,
    .connect = fake_connect,
    .conn_start = fake_conn_start,
    .conn_read_pause = fake_conn_read_pause,
    .conn_read_resume = fake_conn_read_resume,
    .conn_write = fake_conn_write,
    .conn_write_pending = fake_conn_write_pending,
    .conn_peer_name = fake_conn_peer_name,
    .conn_local_name = fake_conn_local_name,
    .conn_close = fake_conn_close,
    .file_open = fake_file_open,
    .file_read = fake_file_read,
    .file_write = fake_file_write,
    .file_fsync = fake_file_fsync,
    .file_close = fake_file_close,
    .rename = fake_rename,
    .unlink = fake_unlink,
};

struct io_fake *io_fake_new(uint64_t seed, int64_t wall_start_ms)
{
    struct io_fake *f = cairn_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->io.ops = &fake_ops;
    f->seed = seed;
    f->wall_start_ms = wall_start_ms;
    return f;
}

void io_fake_free(struct io_fake *f)
{
    if (f == NULL)
        return;
    ASSERT(f->timers_count == 0);
    ASSERT(f->listener == NULL);
    struct io_fake_conn *next;
    for (struct io_fake_conn *c = f->conns; c != NULL; c = next) {
        next = c->next;
        buf_free(&c->inbox);
        buf_free(&c->output);
        cairn_free(c);
    }
    cairn_free(f);
}

struct io *io_fake_io(struct io_fake *f)
{
    return &f->io;
}

static struct fake_timer *next_due(struct io_fake *f, uint64_t until_us)
{
    struct fake_timer *best = NULL;
    for (size_t i = 0; i < f->timers_count; i++) {
        struct fake_timer *t = f->timers[i];
        if (!t->armed || t->deadline_us > until_us)
            continue;
        if (best == NULL || t->deadline_us < best->deadline_us ||
            (t->deadline_us == best->deadline_us && t->seq < best->seq))
            best = t;
    }
    return best;
}

void io_fake_advance(struct io_fake *f, uint64_t ms)
{
    uint64_t until = f->now_us + ms * 1000;
    for (int fires = 0; fires < FAKE_TIMER_FIRES_MAX; fires++) {
        struct fake_timer *t = next_due(f, until);
        if (t == NULL)
            break;
        if (t->deadline_us > f->now_us)
            f->now_us = t->deadline_us;
        t->armed = false;
        t->cb(t->ctx);
        io_fake_poll(f);
    }
    f->now_us = until;
    io_fake_poll(f);
}

void io_fake_spend_us(struct io_fake *f, uint64_t us)
{
    f->now_us += us;
}

struct io_fake_conn *io_fake_connect(struct io_fake *f, const char *peer)
{
    if (f->listener == NULL)
        return NULL;
    struct io_fake_conn *c = cairn_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base.io = &f->io;
    c->f = f;
    c->read_size = FAKE_READ_SIZE_MAX;
    buf_init(&c->inbox, 0);
    buf_init(&c->output, 0);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->next = f->conns;
    f->conns = c;
    f->listener->cb(f->listener->ctx, &c->base);
    ASSERT(c->started || c->closed);
    return c;
}

int io_fake_send(struct io_fake_conn *c, const void *data, size_t len)
{
    if (c->closed)
        return CAIRN_ECLOSED;
    int rc = buf_append(&c->inbox, data, len);
    if (rc != 0)
        return rc; /* an allocation fault injected by a test */
    io_fake_poll(c->f);
    return 0;
}

int io_fake_send_str(struct io_fake_conn *c, const char *s)
{
    return io_fake_send(c, s, strlen(s));
}

void io_fake_set_read_size(struct io_fake_conn *c, size_t n)
{
    ASSERT(n > 0);
    ASSERT(n <= FAKE_READ_SIZE_MAX);
    c->read_size = n;
}

void io_fake_hangup(struct io_fake_conn *c)
{
    c->eof_pending = true;
    io_fake_poll(c->f);
}

/* One delivery for c; returns true if a callback ran. */
static bool poll_one(struct io_fake_conn *c)
{
    if (c->closed || !c->started)
        return false;
    if (!c->paused && c->inbox.len > 0) {
        size_t n = CAIRN_MIN(c->read_size, c->inbox.len);
        /* Deliver a private copy: the callback may not see later bytes. */
        char *chunk = c->f->scratch;
        memcpy(chunk, c->inbox.data, n);
        buf_consume(&c->inbox, n);
        c->h.read_cb(c->ctx, &c->base, chunk, n);
        return true;
    }
    if (c->drain_pending) {
        c->drain_pending = false;
        if (c->h.drain_cb != NULL)
            c->h.drain_cb(c->ctx, &c->base);
        return true;
    }
    if (c->eof_pending && c->inbox.len == 0) {
        c->eof_pending = false;
        c->h.eof_cb(c->ctx, &c->base, CAIRN_ECLOSED);
        return true;
    }
    return false;
}

void io_fake_poll(struct io_fake *f)
{
    bool progress = true;
    while (progress) {
        progress = false;
        for (struct io_fake_conn *c = f->conns; c != NULL; c = c->next)
            progress |= poll_one(c);
    }
}

const char *io_fake_output(struct io_fake_conn *c, size_t *len)
{
    if (buf_append(&c->output, "", 1) != 0)
        UNREACHABLE();
    c->output.len--;
    if (len != NULL)
        *len = c->output.len;
    return c->output.data;
}

void io_fake_output_clear(struct io_fake_conn *c)
{
    buf_clear(&c->output);
}

void io_fake_stall(struct io_fake_conn *c, bool stalled)
{
    c->stalled = stalled;
    if (!stalled && c->pending > 0) {
        c->pending = 0;
        c->drain_pending = true;
        io_fake_poll(c->f);
    }
}

bool io_fake_closed(const struct io_fake_conn *c)
{
    return c->closed;
}

bool io_fake_paused(const struct io_fake_conn *c)
{
    return c->paused;
}

size_t io_fake_writes(const struct io_fake_conn *c)
{
    return c->writes;
}
