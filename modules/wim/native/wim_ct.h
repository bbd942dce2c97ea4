/*
 * wim_ct.h — branch-free arithmetic shared by the core, and marks for the secret-dependence check. Built with -DWIM_CT_CHECK (test builds only), the
 * core tells Valgrind's memcheck which bytes are secret: memcheck then reports every branch and every
 * memory index computed from them ("Conditional jump or move depends on uninitialised value(s)", "Use
 * of uninitialised value of size N"). WIM_PUBLIC marks a value that is published on purpose (a result,
 * a blinded value). In every other build both are no-ops.
 */
#ifndef WIM_CT_H
#define WIM_CT_H

#ifdef WIM_CT_CHECK
#include <valgrind/memcheck.h>
#define WIM_SECRET(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define WIM_PUBLIC(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define WIM_SECRET(p, n) ((void)0)
#define WIM_PUBLIC(p, n) ((void)0)
#endif

#include <stdint.h>

/* a + b mod 2^64 without a branch on the operands: native where the ISA carries without one (64-bit
 * hosts; rv32: add + sltu); elsewhere (Xtensa, which compiles the carry between the halves of a uint64_t
 * sum to a bltu, and other 32-bit builds) on 32-bit halves, the carry taken bitwise from the top bits (the
 * majority of a, b and not-sum). Used by SHA-512 and Poly1305. */
#if UINTPTR_MAX > 0xffffffffu || defined(__riscv)
#define wim_add64(a, b) ((uint64_t)(a) + (uint64_t)(b))
#else
static inline uint64_t wim_add64(uint64_t a, uint64_t b)
{
	uint32_t al = (uint32_t)a, bl = (uint32_t)b, sl = al + bl;
	uint32_t c = ((al & bl) | ((al | bl) & ~sl)) >> 31;
	return (uint64_t)((uint32_t)(a >> 32) + (uint32_t)(b >> 32) + c) << 32 | sl;
}
#endif

#endif
