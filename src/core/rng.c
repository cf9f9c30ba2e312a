/* rng.c: xoshiro256** with splitmix64 seeding; see rng.h. */
#include "core/rng.h"

#include "core/assert.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void cairn_rng_seed(struct cairn_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t cairn_rng_next(struct cairn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t cairn_rng_below(struct cairn_rng *rng, uint64_t bound)
{
    ASSERT(bound > 0);
    /* Rejection sampling removes modulo bias. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    uint64_t x;
    do {
        x = cairn_rng_next(rng);
    } while (x >= limit);
    return x % bound;
}

uint64_t cairn_rng_range(struct cairn_rng *rng, uint64_t lo, uint64_t hi)
{
    ASSERT(lo <= hi);
    if (hi - lo == UINT64_MAX)
        return cairn_rng_next(rng);
    return lo + cairn_rng_below(rng, hi - lo + 1);
}

int cairn_rng_chance(struct cairn_rng *rng, uint64_t num, uint64_t den)
{
    ASSERT(den > 0);
    return cairn_rng_below(rng, den) < num;
}
