/*
 * rng.h: a small seeded pseudo-random generator (xoshiro256**, seeded through
 * splitmix64).  Each owner (a node, a raft instance, the cache's sampler) has
 * its own; nothing in cairn calls rand().  Same seed, same sequence, on every
 * platform.
 */
#ifndef CAIRN_CORE_RNG_H
#define CAIRN_CORE_RNG_H

#include <stdint.h>

struct cairn_rng {
    uint64_t s[4];
};

void cairn_rng_seed(struct cairn_rng *rng, uint64_t seed);
uint64_t cairn_rng_next(struct cairn_rng *rng);

/* Uniform in [0, bound); bound must be > 0. */
uint64_t cairn_rng_below(struct cairn_rng *rng, uint64_t bound);

/* Uniform in [lo, hi] inclusive; lo <= hi. */
uint64_t cairn_rng_range(struct cairn_rng *rng, uint64_t lo, uint64_t hi);

/* True with probability num/den. */
int cairn_rng_chance(struct cairn_rng *rng, uint64_t num, uint64_t den);

#endif
