/*
 * wim_bn.h — the bignum core under RSA: fixed-length natural numbers as little-endian arrays of limbs.
 *
 * The limb width is chosen at compile time: 64-bit limbs (products in unsigned __int128) on 64-bit hosts
 * that have it, 32-bit limbs (products in uint64_t) elsewhere — rv32imc and Xtensa ESP32s. Build with
 * -DWIM_LIMB_BITS=32 to run the 32-bit code on a PC.
 *
 * Every number has a length in limbs that the caller gives; lengths, bit sizes and loop counts are
 * public. Unless a function says "vartime", it has no branch and no memory index that depends on the
 * VALUE of its operands, so it may be given secrets (primes, exponents, intermediates). Functions
 * marked vartime must only see public values (or values blinded so that they reveal nothing).
 *
 * No malloc: functions that need working memory take a `t` (scratch) pointer with the size they state.
 * Outputs may alias inputs only where a function says so.
 */
#ifndef WIM_BN_H
#define WIM_BN_H

#include <stddef.h>
#include <stdint.h>

#ifndef WIM_LIMB_BITS
#if defined(__SIZEOF_INT128__) && UINTPTR_MAX > 0xffffffffu
#define WIM_LIMB_BITS 64
#else
#define WIM_LIMB_BITS 32
#endif
#endif

#if WIM_LIMB_BITS == 64
typedef uint64_t wim_limb;
typedef unsigned __int128 wim_dlimb;
#elif WIM_LIMB_BITS == 32
typedef uint32_t wim_limb;
typedef uint64_t wim_dlimb;
#else
#error "WIM_LIMB_BITS must be 32 or 64"
#endif

#define WIM_LIMB_BYTES (WIM_LIMB_BITS / 8)
/* Limbs needed for a number of `bits` bits (bits is public). */
#define WIM_BN_LIMBS(bits) (((bits) + WIM_LIMB_BITS - 1) / WIM_LIMB_BITS)

/* A Montgomery context for an odd modulus m of n limbs (m's top limb may be anything but m > 1).
 * m may be secret (a prime factor): the context holds pointers and values derived from it. */
typedef struct wim_mont {
	const wim_limb *m; /* the modulus, n limbs */
	wim_limb *rr;      /* R^2 mod m, R = 2^(n*WIM_LIMB_BITS), n limbs (caller-provided storage) */
	wim_limb *one;     /* R mod m: 1 in Montgomery form, n limbs (caller-provided storage) */
	wim_limb m0inv;    /* -m^-1 mod 2^WIM_LIMB_BITS */
	size_t n;
} wim_mont;

/* ---- constant-time helpers on single words (masks are all-ones or zero) ---- */

/* All-ones if x != 0, else 0. */
wim_limb wim_ct_nonzero_mask(wim_limb x);

/* The carry out of s = a + b (+ a carry in of 0 or 1), as 0/1, from the top bits of a, b and s alone:
 * the majority of a, b and the carry into the top bit (a ^ b ^ s). Pure bitwise: no ISA needs a branch
 * for it (a comparison `s < a` is a branch on Xtensa, which has no set-if-less-than). */
static inline wim_limb wim_ct_carry(wim_limb a, wim_limb b, wim_limb s)
{
	return ((a & b) | ((a | b) & ~s)) >> (WIM_LIMB_BITS - 1);
}

/* The borrow out of d = a - b (- a borrow in of 0 or 1), as 0/1, likewise. */
static inline wim_limb wim_ct_borrow(wim_limb a, wim_limb b, wim_limb d)
{
	return ((~a & b) | ((~a | b) & d)) >> (WIM_LIMB_BITS - 1);
}

/* ---- basic operations, n limbs each, constant time ---- */

void wim_bn_zero(wim_limb *r, size_t n);
void wim_bn_copy(wim_limb *r, const wim_limb *a, size_t n);
/* r = a + b; returns the carry (0/1). r may alias a or b. */
wim_limb wim_bn_add(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t n);
/* r = a - b; returns the borrow (0/1). r may alias a or b. */
wim_limb wim_bn_sub(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t n);
/* r = a + w (a single limb); returns the carry. r may alias a. */
wim_limb wim_bn_add_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n);
/* r = a - w (a single limb); returns the borrow. r may alias a. */
wim_limb wim_bn_sub_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n);
/* r = mask ? a : r, mask all-ones or zero. */
void wim_bn_cmov(wim_limb *r, const wim_limb *a, wim_limb mask, size_t n);
/* All-ones if a == 0. */
wim_limb wim_bn_is_zero(const wim_limb *a, size_t n);
/* All-ones if a == b. */
wim_limb wim_bn_eq(const wim_limb *a, const wim_limb *b, size_t n);
/* All-ones if a < b. */
wim_limb wim_bn_lt(const wim_limb *a, const wim_limb *b, size_t n);
/* r = a << 1; returns the bit shifted out. r may alias a. */
wim_limb wim_bn_shl1(wim_limb *r, const wim_limb *a, size_t n);
/* r = a >> s for a PUBLIC shift count s (0 <= s < n*WIM_LIMB_BITS). r may alias a. */
void wim_bn_shr(wim_limb *r, const wim_limb *a, size_t s, size_t n);
/* Bit i (public index) of a, as 0/1. */
wim_limb wim_bn_bit(const wim_limb *a, size_t i);
/* Number of significant bits. vartime: for public values only. */
size_t wim_bn_bitlen_vartime(const wim_limb *a, size_t n);

/* r = a * b (an + bn limbs). r must not alias a or b. */
void wim_bn_mul(wim_limb *r, const wim_limb *a, size_t an, const wim_limb *b, size_t bn);
/* r = a * w; returns the high limb. r may alias a. */
wim_limb wim_bn_mul_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n);

/* a mod d for a small public divisor 2 <= d < 2^24; constant time in a. */
uint32_t wim_bn_mod_small(const wim_limb *a, size_t n, uint32_t d);
/* r = a / d where d is odd and divides a exactly (a secret, d public). r may alias a. */
void wim_bn_divexact_small(wim_limb *r, const wim_limb *a, uint32_t d, size_t n);

/* ---- Montgomery arithmetic ---- */

/* Sets up ctx for the odd modulus m (n limbs) using rr and one (n limbs each) as storage. m must have
 * its top bit set (R/2 <= m < R): true of every RSA modulus and prime here (n has exactly `bits` bits,
 * and p, q exactly bits/2 bits). Constant time in m. t: n + 2 limbs. */
void wim_mont_init(wim_mont *ctx, const wim_limb *m, size_t n, wim_limb *rr, wim_limb *one, wim_limb *t);
/* r = a * b / R mod m, for a < R and b < m (or a < m and b < R). r may alias a or b. t: n + 2 limbs. */
void wim_mont_mul(wim_limb *r, const wim_limb *a, const wim_limb *b, const wim_mont *ctx, wim_limb *t);
/* r = a^2 / R mod m, a < m: wim_mont_mul(r, a, a) with about a quarter fewer products. r may alias a.
 * t: n + 2 limbs. */
void wim_mont_sqr(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t);
/* r = a / R mod m (Montgomery reduction) for a of an <= 2n limbs with a < m * R. t: n + 2 limbs. */
void wim_mont_redc(wim_limb *r, const wim_limb *a, size_t an, const wim_mont *ctx, wim_limb *t);
/* r = a mod m for a of an <= 2n limbs with a < m * R (e.g. a number below p*q reduced modulo p):
 * a reduction and a product with R^2, instead of a division. t: n + 2 limbs. */
void wim_mont_mod(wim_limb *r, const wim_limb *a, size_t an, const wim_mont *ctx, wim_limb *t);
/* r = a * R mod m (into Montgomery form), a < m. t: n + 2 limbs. */
void wim_mont_to(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t);
/* r = a / R mod m (out of Montgomery form). t: n + 2 limbs. */
void wim_mont_from(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t);

/* Scratch limbs for wim_bn_mod_exp with a modulus of n limbs. */
#define WIM_BN_MODEXP_SCRATCH(n) (19 * (n) + 2)
/* r = a^e mod m, a < m (normal form in, normal form out). The exponent e (el limbs, of which the low
 * ebits bits are used; ebits public) is SECRET: fixed 4-bit windows, every window does the same four
 * squarings and one multiplication, and the table entry is selected by reading the whole table with
 * masks. a, m may be secret too. r may alias a. t: WIM_BN_MODEXP_SCRATCH(n) limbs. */
void wim_bn_mod_exp(wim_limb *r, const wim_limb *a, const wim_limb *e, size_t ebits, const wim_mont *ctx,
		wim_limb *t);
/* Scratch limbs for wim_bn_mod_exp_pub. */
#define WIM_BN_MODEXP_PUB_SCRATCH(n) (3 * (n) + 2)
/* r = a^e mod m for a PUBLIC exponent e (e.g. 65537): square-and-multiply on e's bits; constant time in
 * a and m. e >= 1. r may alias a. t: WIM_BN_MODEXP_PUB_SCRATCH(n) limbs. */
void wim_bn_mod_exp_pub(wim_limb *r, const wim_limb *a, uint32_t e, const wim_mont *ctx, wim_limb *t);

/* Scratch limbs for wim_bn_mod_inv_vartime. */
#define WIM_BN_MODINV_SCRATCH(n) (4 * (n) + 4)
/* r = a^-1 mod m for an odd m and 0 <= a < m; returns 0, or -1 if gcd(a, m) != 1 (a = 0 included).
 * vartime (Bernstein–Yang divsteps, a word of steps at a time): give it public or blinded values
 * only. r may alias a. t: WIM_BN_MODINV_SCRATCH(n). */
int wim_bn_mod_inv_vartime(wim_limb *r, const wim_limb *a, const wim_limb *m, size_t n, wim_limb *t);

/* ---- conversions ---- */

/* r (n limbs) = the big-endian bytes in[0..len). Returns 0, or -1 if the value does not fit in n limbs
 * (r then holds the low part). Constant time in the bytes' values. */
int wim_bn_from_be(wim_limb *r, size_t n, const uint8_t *in, size_t len);
/* out[0..len) = a (n limbs) big-endian, truncated or zero-padded at the top to len bytes. */
void wim_bn_to_be(uint8_t *out, size_t len, const wim_limb *a, size_t n);

/* Overwrites memory that held secrets, in a way the compiler keeps. */
void wim_wipe(void *p, size_t len);

#endif
