/*
 * sim_io.c: io.h over the simulated world; see sim_io.h for the contract.
 *
 * Invariants:
 * - a crashed sim_io has no event queued: its timers and disk operations
 *   are cancelled by sim_io_crash (ASSERTed in sim_io_free through the
 *   world's pending count staying consistent) and never rescheduled
 *   (timer_start is a no-op when !alive);
 * - disk completions of one node fire in submission order: each gets a time
 *   >= the previous one's (ASSERT in fop_submit), ties broken by sequence;
 * - a file handle's operations call back only while it is open (fop_fire).
 */
#include "sim_io.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"

struct sim_timer {
    struct io_timer base;
    struct sim_event ev;
    struct sim_io *s;
    void *ctx;
    io_timer_cb cb;
    struct sim_timer *prev;
    struct sim_timer *next;
};

struct sim_file {
    struct io_file base;
    struct sim_io *s;
    struct sim_disk_handle h;
    bool opened; /* handed to the node */
    bool closed; /* the node called file_close */
    bool dead;   /* the node crashed */
    uint32_t pending;
    struct sim_file *prev;
    struct sim_file *next;
};

enum fop_kind { FOP_OPEN, FOP_READ, FOP_WRITE, FOP_FSYNC, FOP_RENAME,
                FOP_UNLINK };

struct fop {
    struct sim_event ev;
    struct sim_io *s;
    struct sim_file *f;
    uint8_t kind;
    int flags;
    uint64_t offset;
    void *buf;
    size_t len;
    uint8_t *data;
    char *path;
    char *path2;
    void *ctx;
    io_file_cb cb;
    io_file_open_cb open_cb;
    struct fop *prev;
    struct fop *next;
};

struct sim_io {
    struct io io;
    struct sim_world *w;
    struct sim_net *net;
    struct sim_disk *disk;
    struct sim_io_config cfg;
    uint64_t created_us;
    int64_t wall_step_ms;
    uint64_t disk_last_done_us;
    bool alive;
    struct sim_timer *timers;
    struct sim_file *files;
    struct fop *fops;      /* queued disk operations */
    struct fop *fop_free;  /* recycled records */
};

static const struct io_ops sim_ops;

/* Intrusive doubly linked lists of one node's handles. */
#define LIST_PUSH(head, x)                                                    \
    do {                                                                      \
        (x)->prev = NULL;                                                     \
        (x)->next = (head);                                                   \
        if ((head) != NULL)                                                   \
            (head)->prev = (x);                                               \
        (head) = (x);                                                         \
    } while (0)
#define LIST_UNLINK(head, x)                                                  \
    do {                                                                      \
        if ((x)->prev != NULL)                                                \
            (x)->prev->next = (x)->next;                                      \
        else                                                                  \
            (head) = (x)->next;                                               \
        if ((x)->next != NULL)                                                \
            (x)->next->prev = (x)->prev;                                      \
        (x)->prev = (x)->next = NULL;                                         \
    } while (0)

static struct sim_io *to_sim(struct io *io)
{
    ASSERT(io->ops == &sim_ops);
    return (struct sim_io *)(void *)io;
}

struct sim_io *sim_io_from_io(struct io *io) { return to_sim(io); }
struct io *sim_io_io(struct sim_io *s) { return &s->io; }
bool sim_io_alive(const struct sim_io *s) { return s->alive; }

/* ---- clock ---- */

/* World duration -> node clock duration at this node's rate. */
static uint64_t scale_to_node(const struct sim_io *s, uint64_t world_us)
{
    uint64_t rate = (uint64_t)(1000000 + (int64_t)s->cfg.drift_ppm);
    /* The node reads its clock thousands of times per simulated second:
     * 64-bit arithmetic (a multiply for the division) while the product
     * fits, which is for the first months of simulated time. */
    if (world_us <= UINT64_MAX / rate)
        return world_us * rate / 1000000;
    unsigned __int128 x = (unsigned __int128)world_us * rate;
    return (uint64_t)(x / 1000000);
}

/* Node clock duration -> the world duration that covers it (rounded up, so
 * a timer never fires before its node-clock deadline). */
static uint64_t scale_to_world(const struct sim_io *s, uint64_t node_us)
{
    uint64_t rate = (uint64_t)(1000000 + (int64_t)s->cfg.drift_ppm);
    unsigned __int128 x = (unsigned __int128)node_us * 1000000 + rate - 1;
    return (uint64_t)(x / rate);
}

uint64_t sim_io_clock_us(const struct sim_io *s)
{
    return s->cfg.mono_base_us +
           scale_to_node(s, sim_world_now_us(s->w) - s->created_us);
}

static uint64_t op_now_us(struct io *io) { return sim_io_clock_us(to_sim(io)); }
static uint64_t op_now_ms(struct io *io) { return op_now_us(io) / 1000; }

static int64_t op_wall_ms(struct io *io)
{
    struct sim_io *s = to_sim(io);
    return s->cfg.wall_epoch_ms +
           (int64_t)(scale_to_node(s, sim_world_now_us(s->w)) / 1000) +
           s->wall_step_ms;
}

static uint64_t op_random_seed(struct io *io)
{
    return cairn_rng_next(sim_world_rng(to_sim(io)->w));
}

void sim_io_pause(struct sim_io *s, uint64_t duration_us)
{
    sim_world_node_pause(s->w, s->cfg.host,
                         sim_world_now_us(s->w) + duration_us);
}

void sim_io_wall_step(struct sim_io *s, int64_t delta_ms)
{
    s->wall_step_ms += delta_ms;
}

/* ---- timers ---- */

static void timer_fire(struct sim_event *ev)
{
    struct sim_timer *t = sim_container_of(ev, struct sim_timer, ev);
    ASSERT(t->s->alive);
    t->cb(t->ctx);
}

static struct io_timer *op_timer_new(struct io *io, void *ctx, io_timer_cb cb)
{
    struct sim_io *s = to_sim(io);
    ASSERT(cb != NULL);
    struct sim_timer *t = cairn_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->base.io = io;
    t->s = s;
    t->ctx = ctx;
    t->cb = cb;
    sim_event_init(&t->ev, SIM_EV_TIMER, s->cfg.host, timer_fire);
    LIST_PUSH(s->timers, t);
    return &t->base;
}

static void op_timer_start(struct io_timer *base, uint64_t delay_ms)
{
    struct sim_timer *t = sim_container_of(base, struct sim_timer, base);
    if (!t->s->alive)
        return;
    /* "Never" in practice: a delay past ~34 years waits that long. */
    if (delay_ms > (1ull << 40))
        delay_ms = 1ull << 40;
    sim_world_schedule_in(t->s->w, &t->ev, scale_to_world(t->s, delay_ms * 1000));
}

static void op_timer_stop(struct io_timer *base)
{
    struct sim_timer *t = sim_container_of(base, struct sim_timer, base);
    sim_world_cancel(t->s->w, &t->ev);
}

static void op_timer_free(struct io_timer *base)
{
    struct sim_timer *t = sim_container_of(base, struct sim_timer, base);
    struct sim_io *s = t->s;
    sim_world_cancel(s->w, &t->ev);
    LIST_UNLINK(s->timers, t);
    cairn_free(t);
}

/* ---- tcp: forwarded to the network model ---- */

static int op_listen(struct io *io, const char *host, uint16_t port,
                     int backlog, void *ctx, io_accept_cb cb,
                     struct io_listener **out)
{
    struct sim_io *s = to_sim(io);
    (void)backlog;
    if (!s->alive)
        return CAIRN_ESHUTDOWN;
    return sim_net_listen(s->net, io, s->cfg.host, host, port, ctx, cb, out);
}

static int op_connect(struct io *io, const char *host, uint16_t port,
                      void *ctx, io_connect_cb cb)
{
    struct sim_io *s = to_sim(io);
    if (!s->alive)
        return CAIRN_ESHUTDOWN;
    return sim_net_connect(s->net, io, s->cfg.host, host, port, ctx, cb);
}

uint16_t sim_io_listener_port(const struct io_listener *l)
{
    return sim_net_listener_port(l);
}

/* ---- files ---- */

static void fop_release(struct sim_io *s, struct fop *op)
{
    cairn_free(op->data);
    cairn_free(op->path);
    cairn_free(op->path2);
    memset(op, 0, sizeof(*op));
    op->next = s->fop_free;
    s->fop_free = op;
}

static void file_free(struct sim_io *s, struct sim_file *f)
{
    LIST_UNLINK(s->files, f);
    cairn_free(f);
}

/* The node closed f and nothing is pending: release its inode. */
static void file_finish_close(struct sim_io *s, struct sim_file *f)
{
    ASSERT(f->closed);
    ASSERT(f->pending == 0);
    if (!f->dead && f->opened)
        sim_disk_close(s->disk, f->h);
    file_free(s, f);
}

static void fop_fire(struct sim_event *ev);

static struct fop *fop_new(struct sim_io *s, uint8_t kind, struct sim_file *f,
                           void *ctx)
{
    struct fop *op = s->fop_free;
    if (op != NULL) {
        s->fop_free = op->next;
    } else {
        op = cairn_malloc(sizeof(*op));
        if (op == NULL)
            return NULL;
    }
    memset(op, 0, sizeof(*op));
    op->s = s;
    op->f = f;
    op->kind = kind;
    op->ctx = ctx;
    sim_event_init(&op->ev, SIM_EV_DISK, s->cfg.host, fop_fire);
    return op;
}

static void fop_submit(struct sim_io *s, struct fop *op, enum sim_disk_op kind)
{
    uint64_t at = sim_world_now_us(s->w) + sim_disk_latency_us(s->disk, kind);
    if (at < s->disk_last_done_us)
        at = s->disk_last_done_us;
    ASSERT(at >= s->disk_last_done_us);
    s->disk_last_done_us = at;
    if (op->f != NULL)
        op->f->pending++;
    LIST_PUSH(s->fops, op);
    sim_world_schedule(s->w, &op->ev, at);
}

static void fop_open_done(struct sim_io *s, struct fop *op)
{
    struct sim_file *f = op->f;
    int rc = sim_disk_open(s->disk, op->path, op->flags, &f->h);
    f->pending--;
    if (rc != 0) {
        file_free(s, f);
        op->open_cb(op->ctx, NULL, rc);
        return;
    }
    f->opened = true;
    op->open_cb(op->ctx, &f->base, 0);
}

/* Performs the operation on the disk model; returns (status, bytes). */
static int fop_apply(struct sim_io *s, struct fop *op, size_t *n)
{
    struct sim_file *f = op->f;
    *n = 0;
    switch (op->kind) {
    case FOP_READ:
        /* A closed file's buffer may be gone: skip the copy then. */
        if (f->closed)
            return 0;
        return sim_disk_read(s->disk, f->h, op->offset, op->buf, op->len, n);
    case FOP_WRITE: {
        int rc = sim_disk_write(s->disk, f->h, op->offset, op->data, op->len);
        *n = rc == 0 ? op->len : 0;
        return rc;
    }
    case FOP_FSYNC:
        return sim_disk_fsync(s->disk, f->h);
    case FOP_RENAME:
        return sim_disk_rename(s->disk, op->path, op->path2);
    case FOP_UNLINK:
        return sim_disk_unlink(s->disk, op->path);
    default:
        UNREACHABLE();
    }
}

static void fop_fire(struct sim_event *ev)
{
    struct fop *op = sim_container_of(ev, struct fop, ev);
    struct sim_io *s = op->s;
    ASSERT(s->alive);
    LIST_UNLINK(s->fops, op);
    sim_world_trace_arg(s->w, op->kind);
    if (op->kind == FOP_OPEN) {
        fop_open_done(s, op);
        fop_release(s, op);
        return;
    }
    size_t n = 0;
    int rc = fop_apply(s, op, &n);
    if (op->kind == FOP_WRITE && rc == 0)
        sim_world_trace_bytes(s->w, op->data, op->len);
    struct sim_file *f = op->f;
    void *ctx = op->ctx;
    io_file_cb cb = op->cb;
    if (op->kind == FOP_READ && rc == 0 && n > 0)
        sim_world_trace_bytes(s->w, op->buf, n);
    fop_release(s, op);
    if (f != NULL) {
        ASSERT(f->pending > 0);
        f->pending--;
        if (f->closed) {
            if (f->pending == 0)
                file_finish_close(s, f);
            return;
        }
    }
    cb(ctx, rc, n);
}

static int op_file_open(struct io *io, const char *path, int flags, void *ctx,
                        io_file_open_cb cb)
{
    struct sim_io *s = to_sim(io);
    if (!s->alive)
        return CAIRN_ESHUTDOWN;
    if (s->disk == NULL)
        return CAIRN_EIO;
    struct sim_file *f = cairn_calloc(1, sizeof(*f));
    if (f == NULL)
        return CAIRN_ENOMEM;
    f->base.io = io;
    f->s = s;
    struct fop *op = fop_new(s, FOP_OPEN, f, ctx);
    char *p = cairn_strndup(path, strlen(path));
    if (op == NULL || p == NULL) {
        if (op != NULL)
            fop_release(s, op);
        cairn_free(p);
        cairn_free(f);
        return CAIRN_ENOMEM;
    }
    op->path = p;
    op->flags = flags;
    op->open_cb = cb;
    LIST_PUSH(s->files, f);
    fop_submit(s, op, SIM_DISK_OP_OPEN);
    return 0;
}

static struct sim_file *file_of(struct io_file *base)
{
    struct sim_file *f = sim_container_of(base, struct sim_file, base);
    ASSERT(f->opened);
    ASSERT(!f->closed);
    return f;
}

static int op_file_read(struct io_file *base, uint64_t offset, void *buf,
                        size_t len, void *ctx, io_file_cb cb)
{
    struct sim_file *f = file_of(base);
    if (f->dead)
        return CAIRN_ESHUTDOWN;
    struct fop *op = fop_new(f->s, FOP_READ, f, ctx);
    if (op == NULL)
        return CAIRN_ENOMEM;
    op->offset = offset;
    op->buf = buf;
    op->len = len;
    op->cb = cb;
    fop_submit(f->s, op, SIM_DISK_OP_READ);
    return 0;
}

static int op_file_write(struct io_file *base, uint64_t offset,
                         const void *data, size_t len, void *ctx,
                         io_file_cb cb)
{
    struct sim_file *f = file_of(base);
    if (f->dead)
        return CAIRN_ESHUTDOWN;
    struct fop *op = fop_new(f->s, FOP_WRITE, f, ctx);
    if (op == NULL)
        return CAIRN_ENOMEM;
    if (len > 0) {
        op->data = cairn_malloc(len);
        if (op->data == NULL) {
            fop_release(f->s, op);
            return CAIRN_ENOMEM;
        }
        memcpy(op->data, data, len);
    }
    op->offset = offset;
    op->len = len;
    op->cb = cb;
    fop_submit(f->s, op, SIM_DISK_OP_WRITE);
    return 0;
}

static int op_file_fsync(struct io_file *base, void *ctx, io_file_cb cb)
{
    struct sim_file *f = file_of(base);
    if (f->dead)
        return CAIRN_ESHUTDOWN;
    struct fop *op = fop_new(f->s, FOP_FSYNC, f, ctx);
    if (op == NULL)
        return CAIRN_ENOMEM;
    op->cb = cb;
    fop_submit(f->s, op, SIM_DISK_OP_FSYNC);
    return 0;
}

static void op_file_close(struct io_file *base)
{
    struct sim_file *f = file_of(base);
    f->closed = true;
    if (f->pending == 0 || f->dead) {
        f->pending = 0;
        file_finish_close(f->s, f);
    }
}

static int path_op(struct io *io, uint8_t kind, const char *from,
                   const char *to, void *ctx, io_file_cb cb)
{
    struct sim_io *s = to_sim(io);
    if (!s->alive)
        return CAIRN_ESHUTDOWN;
    if (s->disk == NULL)
        return CAIRN_EIO;
    struct fop *op = fop_new(s, kind, NULL, ctx);
    if (op == NULL)
        return CAIRN_ENOMEM;
    op->path = cairn_strndup(from, strlen(from));
    if (to != NULL)
        op->path2 = cairn_strndup(to, strlen(to));
    if (op->path == NULL || (to != NULL && op->path2 == NULL)) {
        fop_release(s, op);
        return CAIRN_ENOMEM;
    }
    op->cb = cb;
    fop_submit(s, op, kind == FOP_RENAME ? SIM_DISK_OP_RENAME
                                         : SIM_DISK_OP_UNLINK);
    return 0;
}

static int op_rename(struct io *io, const char *from, const char *to,
                     void *ctx, io_file_cb cb)
{
    return path_op(io, FOP_RENAME, from, to, ctx, cb);
}

static int op_unlink(struct io *io, const char *path, void *ctx,
                     io_file_cb cb)
{
    return path_op(io, FOP_UNLINK, path, NULL, ctx, cb);
}

static const struct io_ops sim_ops = {
    .now_ms = op_now_ms,
    .now_us = op_now_us,
    .wall_ms = op_wall_ms,
    .random_seed = op_random_seed,
    .timer_new = op_timer_new,
    .timer_start = op_timer_start,
    .timer_stop = op_timer_stop,
    .timer_free = op_timer_free,
    .listen = op_listen,
    .listener_close = sim_net_listener_close,
    .connect = op_connect,
    .conn_start = sim_net_conn_start,
    .conn_read_pause = sim_net_conn_read_pause,
    .conn_read_resume = sim_net_conn_read_resume,
    .conn_write = sim_net_conn_write,
    .conn_write_pending = sim_net_conn_write_pending,
    .conn_peer_name = sim_net_conn_peer_name,
    .conn_local_name = sim_net_conn_local_name,
    .conn_close = sim_net_conn_close,
    .file_open = op_file_open,
    .file_read = op_file_read,
    .file_write = op_file_write,
    .file_fsync = op_file_fsync,
    .file_close = op_file_close,
    .rename = op_rename,
    .unlink = op_unlink,
};

/* ---- lifetime ---- */

struct sim_io *sim_io_new(struct sim_world *w, struct sim_net *net,
                          struct sim_disk *disk,
                          const struct sim_io_config *cfg)
{
    ASSERT(cfg->host < sim_net_host_count(net));
    ASSERT(cfg->drift_ppm > -1000000 && cfg->drift_ppm < 1000000);
    struct sim_io *s = sim_xcalloc(1, sizeof(*s));
    s->io.ops = &sim_ops;
    s->w = w;
    s->net = net;
    s->disk = disk;
    s->cfg = *cfg;
    s->created_us = sim_world_now_us(w);
    s->alive = true;
    sim_net_host_up(net, cfg->host);
    return s;
}

/* Drops every queued disk operation without effect or callback. */
static void fops_cancel_all(struct sim_io *s)
{
    while (s->fops != NULL) {
        struct fop *op = s->fops;
        LIST_UNLINK(s->fops, op);
        sim_world_cancel(s->w, &op->ev);
        if (op->kind == FOP_OPEN)
            file_free(s, op->f); /* never handed to the node */
        fop_release(s, op);
    }
}

void sim_io_crash(struct sim_io *s)
{
    ASSERT(s->alive);
    s->alive = false;
    for (struct sim_timer *t = s->timers; t != NULL; t = t->next)
        sim_world_cancel(s->w, &t->ev);
    fops_cancel_all(s);
    struct sim_file *next;
    for (struct sim_file *f = s->files; f != NULL; f = next) {
        next = f->next;
        f->dead = true;
        f->pending = 0;
        if (f->closed)
            file_free(s, f);
    }
    sim_net_host_crash(s->net, s->cfg.host);
    if (s->disk != NULL)
        sim_disk_crash(s->disk);
}

void sim_io_free(struct sim_io *s)
{
    if (s == NULL)
        return;
    while (s->timers != NULL)
        op_timer_free(&s->timers->base);
    fops_cancel_all(s);
    while (s->files != NULL) {
        struct sim_file *f = s->files;
        if (!f->dead && f->opened)
            sim_disk_close(s->disk, f->h);
        file_free(s, f);
    }
    while (s->fop_free != NULL) {
        struct fop *op = s->fop_free;
        s->fop_free = op->next;
        cairn_free(op);
    }
    sim_net_io_release(s->net, &s->io);
    cairn_free(s);
}

size_t sim_io_handles_open(const struct sim_io *s)
{
    size_t n = sim_net_io_handles(s->net, &s->io);
    for (const struct sim_timer *t = s->timers; t != NULL; t = t->next)
        n++;
    for (const struct sim_file *f = s->files; f != NULL; f = f->next)
        n += f->opened && !f->closed;
    return n;
}
