/*
 * glob.c: Redis-style glob matching for KEYS and SCAN MATCH.
 *
 * Syntax: '*' any run of bytes, '?' one byte, '[abc]' '[a-z]' '[^a]' a byte
 * class (a reversed range matches as if sorted; an unclosed class runs to
 * the end of the pattern), '\x' the byte x.  Matching is iterative with one
 * backtrack point (the last '*'): when a later literal part fails, the
 * last star absorbs one more byte.  That is complete for globs because an
 * earlier star can never need to absorb bytes a later star could take, so
 * there is no recursion and the worst case is O(plen * slen).
 */
#include "kv/kv.h"

#include <stddef.h>

/* Matches one class starting after '['.  *pi is advanced past the class
 * (its ']' or the end of the pattern).  Returns true if c is in it. */
static bool class_match(const char *pat, size_t plen, size_t *pi,
                        unsigned char c)
{
    size_t i = *pi;
    bool negate = false, match = false;
    if (i < plen && pat[i] == '^') {
        negate = true;
        i++;
    }
    while (i < plen && pat[i] != ']') {
        if (pat[i] == '\\' && i + 1 < plen) {
            i++;
            if ((unsigned char)pat[i] == c)
                match = true;
            i++;
        } else if (i + 2 < plen && pat[i + 1] == '-') {
            unsigned char lo = (unsigned char)pat[i];
            unsigned char hi = (unsigned char)pat[i + 2];
            if (lo > hi) {
                unsigned char t = lo;
                lo = hi;
                hi = t;
            }
            if (c >= lo && c <= hi)
                match = true;
            i += 3;
        } else {
            if ((unsigned char)pat[i] == c)
                match = true;
            i++;
        }
    }
    if (i < plen)
        i++; /* the ']' */
    *pi = i;
    return negate ? !match : match;
}

bool kv_glob_match(const char *pat, size_t plen, const char *str, size_t slen)
{
    size_t p = 0, s = 0;
    size_t star_p = SIZE_MAX, star_s = 0;
    while (s < slen) {
        if (p < plen && pat[p] == '*') {
            while (p < plen && pat[p] == '*')
                p++;
            if (p == plen)
                return true;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < plen) {
            size_t np = p + 1;
            bool ok;
            unsigned char c = (unsigned char)str[s];
            if (pat[p] == '?') {
                ok = true;
            } else if (pat[p] == '[') {
                ok = class_match(pat, plen, &np, c);
            } else if (pat[p] == '\\' && p + 1 < plen) {
                ok = (unsigned char)pat[p + 1] == c;
                np = p + 2;
            } else {
                ok = (unsigned char)pat[p] == c;
            }
            if (ok) {
                p = np;
                s++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}
