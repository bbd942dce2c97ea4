/*
 * wim_ct.h — marks for the secret-dependence check. Built with -DWIM_CT_CHECK (test builds only), the
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

#endif
