/*
 * entry.c: building, copying and freeing cache entries (layout in kv_int.h).
 *
 * Every allocation made here is added to kv->mem_used by its usable size and
 * subtracted by the same amount when freed, so memory accounting is exact
 * with respect to what the allocator reserved.  Entries are immutable in
 * size: a change of TTL presence or value size builds a new entry and the
 * caller swaps it into the table (kv_entry_swap).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "kv/kv_int.h"

static size_t value_size(enum kv_encoding enc, size_t vlen)
{
    switch (enc) {
    case KV_ENC_INT: return sizeof(int64_t);
    case KV_ENC_EMB: return sizeof(uint32_t) + vlen;
    case KV_ENC_RAW: return sizeof(struct kv_raw *);
    }
    UNREACHABLE();
}

/* Allocates an entry with room for the key and a value of the given
 * encoding, fills the header, TTL block and key.  NULL on failure. */
static struct kv_entry *entry_alloc(struct kv *kv, const void *key,
                                    size_t klen, enum kv_encoding enc,
                                    size_t vlen, int64_t expire_ms)
{
    if (klen > UINT32_MAX) /* only with proto-max-bulk-len above 4 GB */
        return NULL;
    bool ttl = expire_ms != KV_NO_EXPIRE;
    size_t size = sizeof(struct kv_entry) + (ttl ? KV_TTL_BLOCK : 0) + klen +
                  value_size(enc, vlen);
    struct kv_entry *e = cairn_malloc(size);
    if (e == NULL)
        return NULL;
    kv->mem_used += cairn_alloc_usable_size(e);
    e->next = NULL;
    e->klen = (uint32_t)klen;
    e->meta = ((uint32_t)KV_TYPE_STRING << KV_META_TYPE_SHIFT) |
              ((uint32_t)enc << KV_META_ENC_SHIFT) | (ttl ? KV_META_TTL : 0) |
              kv->snap_mark; /* born after any running snapshot began */
    if (ttl) {
        entry_expire_put(e, expire_ms);
        entry_xidx_put(e, UINT32_MAX);
    }
    if (klen > 0)
        memcpy(entry_key(e), key, klen);
    return e;
}

struct kv_entry *entry_new_int(struct kv *kv, const void *key, size_t klen,
                               int64_t v, int64_t expire_ms)
{
    struct kv_entry *e = entry_alloc(kv, key, klen, KV_ENC_INT, 0, expire_ms);
    if (e != NULL)
        memcpy(entry_val(e), &v, sizeof(v));
    return e;
}

struct kv_raw *raw_new(struct kv *kv, size_t cap)
{
    struct kv_raw *r = cairn_malloc(sizeof(*r) + cap);
    if (r == NULL)
        return NULL;
    kv->mem_used += cairn_alloc_usable_size(r);
    r->len = 0;
    r->cap = cap;
    return r;
}

struct kv_raw *raw_grow(struct kv *kv, struct kv_raw *raw, size_t need)
{
    if (need <= raw->cap)
        return raw;
    /* Greedy growth like sds: double below 1 MiB, then +1 MiB, so repeated
     * APPEND is amortized O(1). */
    size_t cap = need < (1u << 20) ? need * 2 : need + (1u << 20);
    size_t old = cairn_alloc_usable_size(raw);
    struct kv_raw *r = cairn_realloc(raw, sizeof(*r) + cap);
    if (r == NULL)
        return NULL;
    kv->mem_used -= old;
    kv->mem_used += cairn_alloc_usable_size(r);
    r->cap = cap;
    return r;
}

struct kv_entry *entry_new_raw(struct kv *kv, const void *key, size_t klen,
                               struct kv_raw *raw, int64_t expire_ms)
{
    struct kv_entry *e = entry_alloc(kv, key, klen, KV_ENC_RAW, 0, expire_ms);
    if (e == NULL) {
        kv->mem_used -= cairn_alloc_usable_size(raw);
        cairn_free(raw);
        return NULL;
    }
    memcpy(entry_val(e), &raw, sizeof(raw));
    return e;
}

struct kv_entry *entry_new_str(struct kv *kv, const void *key, size_t klen,
                               const void *val, size_t vlen, bool allow_int,
                               int64_t expire_ms)
{
    int64_t iv;
    if (allow_int && vlen <= 20 && cairn_str_to_i64(val, vlen, &iv) == 0)
        return entry_new_int(kv, key, klen, iv, expire_ms);
    if (vlen > KV_EMB_LEN_MAX) {
        struct kv_raw *raw = raw_new(kv, vlen);
        if (raw == NULL)
            return NULL;
        memcpy(raw->data, val, vlen);
        raw->len = vlen;
        return entry_new_raw(kv, key, klen, raw, expire_ms);
    }
    struct kv_entry *e = entry_alloc(kv, key, klen, KV_ENC_EMB, vlen,
                                     expire_ms);
    if (e == NULL)
        return NULL;
    uint32_t l = (uint32_t)vlen;
    char *v = entry_val(e);
    memcpy(v, &l, sizeof(l));
    if (vlen > 0)
        memcpy(v + sizeof(l), val, vlen);
    return e;
}

struct kv_raw *entry_raw(const struct kv_entry *e)
{
    struct kv_raw *r;
    ASSERT(entry_enc(e) == KV_ENC_RAW);
    memcpy(&r, entry_val(e), sizeof(r));
    return r;
}

const char *entry_str(const struct kv_entry *e, char *tmp, size_t *len)
{
    const char *v = entry_val(e);
    switch (entry_enc(e)) {
    case KV_ENC_INT: {
        int64_t iv;
        memcpy(&iv, v, sizeof(iv));
        *len = cairn_i64_to_str(iv, tmp);
        return tmp;
    }
    case KV_ENC_EMB: {
        uint32_t l;
        memcpy(&l, v, sizeof(l));
        *len = l;
        return v + sizeof(l);
    }
    case KV_ENC_RAW: {
        struct kv_raw *r = entry_raw(e);
        *len = r->len;
        return r->data;
    }
    }
    UNREACHABLE();
}

struct kv_entry *entry_clone(struct kv *kv, const struct kv_entry *e,
                             const void *key, size_t klen, int64_t expire_ms,
                             bool move_raw)
{
    struct kv_entry *n;
    if (entry_enc(e) == KV_ENC_RAW) {
        struct kv_raw *r = entry_raw(e);
        if (!move_raw) {
            struct kv_raw *c = raw_new(kv, r->len);
            if (c == NULL)
                return NULL;
            memcpy(c->data, r->data, r->len);
            c->len = r->len;
            r = c;
        }
        n = entry_alloc(kv, key, klen, KV_ENC_RAW, 0, expire_ms);
        if (n == NULL) {
            if (!move_raw) {
                kv->mem_used -= cairn_alloc_usable_size(r);
                cairn_free(r);
            }
            return NULL;
        }
        memcpy(entry_val(n), &r, sizeof(r));
    } else {
        uint32_t l = 0;
        if (entry_enc(e) == KV_ENC_EMB)
            memcpy(&l, entry_val(e), sizeof(l));
        size_t vsize = value_size(entry_enc(e), l);
        n = entry_alloc(kv, key, klen, entry_enc(e), l, expire_ms);
        if (n == NULL)
            return NULL;
        memcpy(entry_val(n), entry_val(e), vsize);
    }
    entry_lru_put(n, entry_lru(e));
    return n;
}

void entry_free(struct kv *kv, struct kv_entry *e, bool free_raw)
{
    if (free_raw && entry_enc(e) == KV_ENC_RAW) {
        struct kv_raw *r = entry_raw(e);
        size_t rs = cairn_alloc_usable_size(r);
        ASSERT(kv->mem_used >= rs);
        kv->mem_used -= rs;
        cairn_free(r);
    }
    size_t es = cairn_alloc_usable_size(e);
    ASSERT(kv->mem_used >= es);
    kv->mem_used -= es;
    cairn_free(e);
}

size_t entry_body_size(const struct kv_entry *e)
{
    uint32_t l = 0;
    if (entry_enc(e) == KV_ENC_EMB)
        memcpy(&l, entry_val(e), sizeof(l));
    return e->klen + value_size(entry_enc(e), l);
}

size_t entry_alloc_bytes(const struct kv_entry *e)
{
    size_t n = cairn_alloc_usable_size(e);
    if (entry_enc(e) == KV_ENC_RAW)
        n += cairn_alloc_usable_size(entry_raw(e));
    return n;
}

/* ---- public accessors ---- */

const char *kv_entry_key(const struct kv_entry *e, size_t *len)
{
    *len = e->klen;
    return entry_key(e);
}

enum kv_type kv_entry_type(const struct kv_entry *e)
{
    return (enum kv_type)((e->meta >> KV_META_TYPE_SHIFT) & 15u);
}

enum kv_encoding kv_entry_encoding(const struct kv_entry *e)
{
    return entry_enc(e);
}

const char *kv_entry_encoding_name(const struct kv_entry *e)
{
    switch (entry_enc(e)) {
    case KV_ENC_INT: return "int";
    case KV_ENC_EMB: return kv_entry_strlen(e) <= KV_EMBSTR_LEN_MAX ? "embstr"
                                                                     : "raw";
    case KV_ENC_RAW: return "raw";
    }
    UNREACHABLE();
}

int64_t kv_entry_expire(const struct kv_entry *e)
{
    return entry_expire(e);
}

const char *kv_entry_str(const struct kv_entry *e, char *tmp, size_t *len)
{
    return entry_str(e, tmp, len);
}

size_t kv_entry_strlen(const struct kv_entry *e)
{
    char tmp[24];
    size_t len;
    (void)entry_str(e, tmp, &len);
    return len;
}

bool kv_entry_int(const struct kv_entry *e, int64_t *out)
{
    if (entry_enc(e) == KV_ENC_INT) {
        memcpy(out, entry_val(e), sizeof(*out));
        return true;
    }
    char tmp[24];
    size_t len;
    const char *s = entry_str(e, tmp, &len);
    return len <= 20 && cairn_str_to_i64(s, len, out) == 0;
}

size_t kv_entry_memory(const struct kv_entry *e)
{
    return entry_alloc_bytes(e) + sizeof(struct kv_entry *);
}
