/*
 * storage_int.h: private layout of the storage module: on-disk formats
 * (pure encode/decode, shared with the fuzzer) and struct storage.
 *
 * All integers on disk are little-endian.  Every checksum is CRC-32C.
 *
 * Meta file (STORAGE_META_FILE_SIZE bytes): slot 0 at offset 0, slot 1 at
 * STORAGE_META_SLOT_SIZE (one 512-byte sector each, so a torn write of one
 * slot never touches the other).  Slot layout:
 *   0 magic "CAIRNMTA"  8 u32 version  12 u32 crc (of bytes 0..SLOT_USED
 *   with this field zero)  16 u64 seq  24 u64 group_id  32 u64 term
 *   40 u64 vote  48 u64 commit  56 u64 snap_id  64 u64 snap_index
 *   72 u64 snap_term  80 u64 first_seg  88 u32 conf_len  92 conf bytes
 *   (zero up to) 159 u64 rejoin (storage_rejoin_set)
 *
 * Segment header (STORAGE_SEG_HEADER_SIZE):
 *   0 magic "CAIRNLOG"  8 u32 version  12 u32 crc  16 u64 group_id
 *   24 u64 seq  32 u64 first_index  40 u64 prev_end
 * prev_end is the byte length of segment seq-1's valid content when this
 * segment was created: the loader parses seq-1 up to exactly there.
 *
 * Record header (STORAGE_REC_HEADER_SIZE), then len bytes of entry data:
 *   0 u32 hcrc (of bytes 4..32)  4 u32 dcrc (of the data)  8 u32 len
 *   12 u8 type  13 u8[3] zero  16 u64 term  24 u64 index
 *
 * Snapshot header (STORAGE_SNAP_HEADER_SIZE), then size bytes of data:
 *   0 magic "CAIRNSNP"  8 u32 version  12 u32 crc  16 u64 group_id
 *   24 u64 id  32 u64 last_index  40 u64 last_term  48 u64 size
 *   56 u32 data_crc  60 u32 conf_len  64 conf bytes
 */
#ifndef CAIRN_NODE_STORAGE_INT_H
#define CAIRN_NODE_STORAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "node/storage.h"
#include "raft/raft.h"

#define STORAGE_FORMAT_VERSION 1u
#define STORAGE_META_SLOT_SIZE 512u
#define STORAGE_META_FILE_SIZE (2u * STORAGE_META_SLOT_SIZE)
/* Bytes 0..SLOT_USED_V1 were the whole slot before the rejoin field; a
 * slot of that layout (rejoin field zero, CRC over the older range) still
 * loads, as rejoin 0. */
#define STORAGE_META_SLOT_USED_V1 (92u + RAFT_CONF_ENCODED_SIZE_MAX)
#define STORAGE_META_REJOIN_OFF STORAGE_META_SLOT_USED_V1
#define STORAGE_META_SLOT_USED (STORAGE_META_SLOT_USED_V1 + 8u)
#define STORAGE_SEG_HEADER_SIZE 48u
#define STORAGE_REC_HEADER_SIZE 32u
#define STORAGE_SNAP_HEADER_SIZE 256u

/* ---- formats (storage_format.c) ---- */

struct storage_meta {
    uint64_t seq; /* slot sequence: the valid slot with the higher wins */
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
    uint64_t snap_id; /* 0: no snapshot */
    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t first_seg; /* first live segment */
    struct raft_conf conf; /* as of snap_index (or bootstrap) */
    uint64_t rejoin; /* re-admitted at this index, not a voter yet (0) */
};

void storage_meta_encode(uint64_t group_id, const struct storage_meta *m,
                         uint8_t out[STORAGE_META_SLOT_SIZE]);
/* 0, or CAIRN_ECORRUPT (bad magic, checksum, group, conf, field mix) or
 * CAIRN_EVERSION.  Safe on any bytes. */
int storage_meta_decode(const uint8_t *in, size_t len, uint64_t group_id,
                        struct storage_meta *out);

struct storage_seg_header {
    uint64_t group_id;
    uint64_t seq;
    uint64_t first_index;
    uint64_t prev_end;
};

void storage_seg_header_encode(const struct storage_seg_header *h,
                               uint8_t out[STORAGE_SEG_HEADER_SIZE]);
int storage_seg_header_decode(const uint8_t *in, size_t len,
                              struct storage_seg_header *out);

/* Writes a record header for e (data not included). */
void storage_rec_header_encode(const struct raft_entry *e,
                               uint8_t out[STORAGE_REC_HEADER_SIZE]);

struct storage_snap_header {
    uint64_t group_id;
    uint64_t id;
    uint64_t last_index;
    uint64_t last_term;
    uint64_t size;
    uint32_t data_crc;
    struct raft_conf conf;
};

void storage_snap_header_encode(const struct storage_snap_header *h,
                                uint8_t out[STORAGE_SNAP_HEADER_SIZE]);
int storage_snap_header_decode(const uint8_t *in, size_t len,
                               struct storage_snap_header *out);

/* Result of scanning one segment's records. */
struct storage_scan {
    uint64_t end;      /* offset after the last whole, valid record */
    uint64_t n_records;
    uint64_t last_index; /* first_index - 1 when no record */
    bool torn;         /* an incomplete record followed end (last only) */
    uint64_t bad_offset; /* on CAIRN_ECORRUPT: where */
    const char *why;     /* on CAIRN_ECORRUPT: what */
};

/* offset: where the entry's record starts in the segment. */
typedef int (*storage_scan_fn)(void *ctx, const struct raft_entry *e,
                               uint64_t offset);

/* Scans records of a segment whose header said first_index, from
 * STORAGE_SEG_HEADER_SIZE to len.  If last, an incomplete final record
 * (the file ends inside it) is a torn tail: scanning stops before it with
 * torn set.  Otherwise, and for any checksum mismatch, an index not in
 * sequence, a term going back or an unknown type, returns CAIRN_ECORRUPT
 * with bad_offset and why.  fn (may be NULL) sees each entry (data points
 * into buf); a nonzero return from fn stops the scan with that code.  Safe
 * on any bytes, never recurses, loops at most len / 32 times. */
int storage_seg_scan(const uint8_t *buf, uint64_t len, uint64_t first_index,
                     bool last, storage_scan_fn fn, void *ctx,
                     struct storage_scan *out);

/* ---- struct storage (storage.c, storage_load.c, storage_snap.c) ---- */

/* A refcounted immutable byte blob: snapshot bytes shared by the host view
 * and a write in flight.  It adopts the buffer the bytes were assembled or
 * read into (base, freed with the blob), so taking it copies nothing. */
struct storage_blob {
    uint32_t refs;
    size_t len;
    const uint8_t *data; /* len bytes inside base */
    void *base;
};

/* Takes ownership of base (freed on failure too); NULL on no memory. */
struct storage_blob *storage_blob_adopt(void *base, const uint8_t *data,
                                        size_t len);

struct storage_seg {
    uint64_t seq;
    uint64_t first_index;
    uint64_t last_index; /* effective (after truncations): first-1 if none */
    uint64_t end;        /* bytes of valid content written (or queued) */
};

/* Work of one group commit, run as a chain of single io operations. */
struct storage_unit {
    uint64_t seq;
    bool create;      /* open with CREATE|TRUNCATE first */
    bool close_after; /* segment closed: close its file after the fsync */
    uint64_t offset;  /* file offset of data[0] */
    struct buf data;
};

enum storage_job_kind {
    STORAGE_JOB_PERSIST = 1,
    STORAGE_JOB_DONE = 2,
};

struct storage_job {
    struct storage_job *next;
    uint8_t kind;
    int status; /* a job-specific outcome (CAIRN_ESTALE), else 0 */
    void *ctx;
    storage_persist_cb persist_cb;
    storage_done_cb done_cb;
    struct storage_persisted result;
};

struct storage_batch {
    struct storage_job *jobs_head;
    struct storage_job *jobs_tail;
    size_t n_jobs;
    struct storage_unit *units;
    size_t n_units;
    size_t cap_units;
    bool meta_dirty;
    uint8_t meta_image[STORAGE_META_SLOT_SIZE];
    /* snapshot install to write before the meta switch (NULL if none) */
    struct storage_blob *install;
    uint64_t install_id;
    struct storage_snap_header install_hdr; /* data_crc filled when written */
    uint8_t install_header[STORAGE_SNAP_HEADER_SIZE];
    /* files to delete once the batch is durable */
    char **unlinks;
    size_t n_unlinks;
    size_t cap_unlinks;
};

enum storage_state {
    STORAGE_LOADING = 1,
    STORAGE_READY = 2,
    STORAGE_FAILED = 3,
};

/* Local snapshot write in progress. */
struct storage_snapw {
    bool active;
    struct raft_snapshot_meta meta;
    const uint8_t *data;
    uint64_t id;
    uint64_t off; /* bytes of data written */
    uint32_t crc; /* of those bytes */
    struct io_file *file;
    uint32_t phase;
    bool inflight; /* an io operation of the chain is pending */
    size_t op_len;
    uint8_t header[STORAGE_SNAP_HEADER_SIZE];
    void *ctx;
    storage_done_cb cb;
};

struct storage_load; /* open-time state, storage_load.c */

struct storage {
    struct io *io;
    uint64_t group_id;
    struct storage_config cfg;
    char *prefix; /* "<dir>/g<gid>-" */
    uint8_t state;
    bool closed;
    uint32_t io_pending; /* io operations of ours that will call back */
    int failed; /* sticky error, 0 if none */
    char err[512];
    struct storage_stats stats;

    void *open_ctx;
    storage_open_cb open_cb;
    struct storage_load *load;

    struct io_file *meta_file;
    struct io_timer *timer; /* completes a batch with nothing to write */

    /* logical state: what every queued job will have made durable */
    struct storage_meta meta;     /* as it will be written next */
    uint64_t meta_seq_written;    /* seq of the last slot written */
    struct storage_meta durable;  /* the last meta made durable */
    uint64_t last_index;
    uint64_t last_term;
    struct storage_seg *segs; /* live segments by seq */
    size_t n_segs;
    size_t cap_segs;
    bool seg_open; /* segs[n_segs-1] takes appends */
    struct io_file *seg_file; /* that segment's file, once opened */
    uint64_t next_seq;
    uint64_t next_snap_id;
    struct { uint64_t index, term; } *runs; /* term runs of the log */
    size_t n_runs;
    size_t cap_runs;

    /* received snapshot being assembled, and the bytes shown to the host */
    struct buf rx;
    struct storage_blob *view;

    struct storage_batch next;  /* accumulating */
    struct storage_batch cur;   /* running (valid while running) */
    bool running;
    bool batch_inflight; /* cur's chain waits for an io callback */
    bool timer_armed;
    uint64_t batch_ops; /* io operations cur issued so far */
    size_t op_len;       /* bytes the pending write must report */
    uint32_t step;      /* position in cur's chain (enum phase) */
    size_t unit_i;      /* cur.units[unit_i] is being written */
    struct storage_meta cur_meta; /* what cur's meta slot holds */
    uint32_t in_cb;     /* host callbacks running (defers the free) */
    uint64_t step_off;  /* progress inside a step (snapshot chunks) */
    uint32_t step_crc;  /* CRC of the snapshot bytes written so far */
    struct io_file *step_file;
    size_t jobs_queued; /* in next and cur */

    struct storage_snapw snapw;
};

/* storage.c helpers used by storage_load.c */
int storage_path(const struct storage *s, char *out, size_t cap,
                 const char *kind, uint64_t n);
void storage_fail(struct storage *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void storage_blob_unref(struct storage_blob *b);
int storage_runs_push(struct storage *s, uint64_t index, uint64_t term);
int storage_segs_push(struct storage *s, const struct storage_seg *seg);
void storage_maybe_free(struct storage *s);
int storage_unlink_add(struct storage *s, const char *kind, uint64_t n);
void storage_job_push(struct storage *s, struct storage_job *j);
void storage_batch_start(struct storage *s);
void storage_jobs_fail(struct storage *s);
int storage_usable(const struct storage *s);

/* storage_load.c */
int storage_load_start(struct storage *s);
void storage_load_free(struct storage *s);

#endif
