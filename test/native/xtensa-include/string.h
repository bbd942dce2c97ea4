/* string.h for the Xtensa disassembly scan (`make native-ct-xtensa`): Debian's gcc-xtensa-lx106 ships no
 * C library, and the core needs only these four (it is compiled, never linked, there). */
#ifndef WIM_XTENSA_STRING_H
#define WIM_XTENSA_STRING_H
#include <stddef.h>
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif
