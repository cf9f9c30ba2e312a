/*
 * disk.h: one simulated node's disk: a flat namespace of files over inodes,
 * with the durability rules of a journaling file system and injectable
 * faults.  The operations here are synchronous and pure (no events): sim_io
 * gives them latency and completion callbacks, tests drive them directly.
 *
 * Durability model (what survives sim_disk_crash()):
 *   - File data: what a successful sim_disk_fsync() of that inode covered.
 *     Writes and truncations after it are "unsynced"; a crash keeps a random
 *     prefix of them, in order, and may tear the first one it does not keep
 *     whole at a SIM_DISK_SECTOR_SIZE boundary (a prefix of its sectors
 *     lands).  Disks that reorder writes are not modelled.
 *   - Names (create, rename, unlink): they take effect at once for every
 *     reader, and become durable at the next successful fsync of ANY file on
 *     the disk, as a journal commit covers all earlier metadata.  A crash
 *     returns the namespace to its state at the last such commit.  So
 *     "write tmp, fsync tmp, rename tmp -> name" survives only once something
 *     is fsynced after the rename; until then a crash may show the old file.
 *     (io.h has no directory fsync; io_uv's rename does not sync the
 *     directory either, so the rule is the honest one for cairn.)
 *   - A failed fsync (CAIRN_EIO) makes nothing durable and leaves the data
 *     unsynced; a later fsync may succeed.  Real kernels can be harsher
 *     (pages dropped after the error): the only safe reaction is to crash,
 *     which is what the node should do.
 *   - Corruption flips bits in stored data (synced and current alike); only
 *     a checksum above can notice.
 * Invariants (ASSERTed): every name maps to a used inode; an inode's
 * unsynced op list replayed on its synced bytes gives its current bytes
 * (ASSERT_SLOW in sim_disk_check); open handles name a live inode generation.
 */
#ifndef CAIRN_SIM_DISK_H
#define CAIRN_SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "world.h"

struct sim_disk_config {
    uint64_t latency_min_us;   /* every operation */
    uint64_t latency_tail_us;  /* plus uniform [0, tail] */
    uint64_t fsync_extra_us;   /* fsync costs this much more */
    uint32_t write_fail_ppm;   /* write returns CAIRN_EIO, nothing written */
    uint32_t fsync_fail_ppm;   /* fsync returns CAIRN_EIO, nothing synced */
    uint32_t read_fail_ppm;    /* read returns CAIRN_EIO (latent error) */
    uint64_t capacity_bytes;   /* 0: unlimited; past it writes: CAIRN_EFULL */
    bool crash_tears;          /* a crash may tear the first unkept write */
};

void sim_disk_config_default(struct sim_disk_config *cfg);

enum sim_disk_op {
    SIM_DISK_OP_OPEN,
    SIM_DISK_OP_READ,
    SIM_DISK_OP_WRITE,
    SIM_DISK_OP_FSYNC,
    SIM_DISK_OP_RENAME,
    SIM_DISK_OP_UNLINK,
    SIM_DISK_OP_COUNT
};

/* A handle on an open inode. */
struct sim_disk_handle {
    uint32_t inode;
    uint32_t gen;
};

struct sim_disk_stats {
    uint64_t writes;
    uint64_t fsyncs;
    uint64_t faults_injected;
    uint64_t crashes;
    uint64_t writes_lost;  /* unsynced writes dropped by crashes */
    uint64_t writes_torn;
    uint64_t wipes;
};

struct sim_disk;

/* rng is the world's generator (faults and crash outcomes draw from it). */
struct sim_disk *sim_disk_new(struct cairn_rng *rng,
                              const struct sim_disk_config *cfg);
void sim_disk_free(struct sim_disk *d);
void sim_disk_stats_get(const struct sim_disk *d, struct sim_disk_stats *out);

/* Latency for one operation of kind op, drawn from the rng. */
uint64_t sim_disk_latency_us(struct sim_disk *d, enum sim_disk_op op);

/* Opens name with IO_OPEN_* flags.  CAIRN_ENOTFOUND without CREATE,
 * CAIRN_EINVAL for a bad name, CAIRN_EFULL with no inode left. */
int sim_disk_open(struct sim_disk *d, const char *name, int flags,
                  struct sim_disk_handle *out);
void sim_disk_close(struct sim_disk *d, struct sim_disk_handle h);
/* Reads up to len bytes at offset; *n is what was read (short at EOF). */
int sim_disk_read(struct sim_disk *d, struct sim_disk_handle h,
                  uint64_t offset, void *buf, size_t len, size_t *n);
int sim_disk_write(struct sim_disk *d, struct sim_disk_handle h,
                   uint64_t offset, const void *data, size_t len);
int sim_disk_fsync(struct sim_disk *d, struct sim_disk_handle h);
int sim_disk_rename(struct sim_disk *d, const char *from, const char *to);
int sim_disk_unlink(struct sim_disk *d, const char *name);

/* Power loss: unsynced data and uncommitted names are lost as described
 * above; every open handle becomes invalid. */
void sim_disk_crash(struct sim_disk *d);
/* An operator replacing a dead disk: every file, synced or not, named or
 * not, is gone for good (names, data and pending faults).  Only while the
 * node is down: no handle may be open (ASSERTed); handles from before are
 * invalid. */
void sim_disk_wipe(struct sim_disk *d);

/* ---- faults and inspection ---- */

/* The next operation of kind op fails with code (one shot). */
void sim_disk_fail_next(struct sim_disk *d, enum sim_disk_op op, int code);
/* Disarms every sim_disk_fail_next() one-shot (faults stop). */
void sim_disk_fail_clear(struct sim_disk *d);
/* Flips bit (0..7) of the byte at offset of name's stored data.  Returns 0,
 * CAIRN_ENOTFOUND or CAIRN_ERANGE. */
int sim_disk_corrupt(struct sim_disk *d, const char *name, uint64_t offset,
                     unsigned bit);
/* Flips one random bit of one random non-empty file; CAIRN_ENOTFOUND when
 * every file is empty.  The name corrupted is copied to name_out if given. */
int sim_disk_corrupt_random(struct sim_disk *d, char *name_out,
                            size_t name_out_len);
bool sim_disk_exists(const struct sim_disk *d, const char *name);
/* Current contents of name (valid until the next mutation), or NULL. */
const uint8_t *sim_disk_contents(const struct sim_disk *d, const char *name,
                                 size_t *len);
/* Files currently named; and open handles (leak checks). */
size_t sim_disk_file_count(const struct sim_disk *d);
size_t sim_disk_handles_open(const struct sim_disk *d);
/* Whole-structure check (ASSERT_SLOW-able): returns true when consistent. */
bool sim_disk_check(const struct sim_disk *d);

#endif
