/*
 * wim_env.h — what the C core receives from its platform (the C half of the Env).
 *
 * The core (bn, rsa, store) never calls an OS or SDK function: flash and randomness reach it
 * through these two small interfaces. The simulator implements them in sim/ (a NOR-checked file,
 * getrandom), the ESP32 host in hosts/esp32/ (esp_partition_*, esp_fill_random), the C tests with
 * an in-memory flash and a seeded generator.
 */
#ifndef WIM_ENV_H
#define WIM_ENV_H

#include <stddef.h>
#include <stdint.h>

/* Result codes shared by the whole C core. 0 is success; every error is negative. */
enum {
	WIM_OK = 0,
	WIM_E_ARG = -1,       /* an argument is out of range or malformed */
	WIM_E_SCRATCH = -2,   /* the caller-provided scratch space is too small */
	WIM_E_FLASH = -3,     /* the flash medium reported an error */
	WIM_E_FULL = -4,      /* the store has no room left, even after compaction */
	WIM_E_NOTFOUND = -5,  /* no record with that id/kind */
	WIM_E_SECRET = -6,    /* the record is secret and cannot be read out */
	WIM_E_CORRUPT = -7,   /* the medium holds no valid store (format it) */
	WIM_E_FAULT = -8,     /* a private-key result failed its self-check: nothing was released */
	WIM_E_RNG = -9,       /* the random source failed */
	WIM_E_TOOBIG = -10,   /* an output buffer is too small */
	WIM_E_CANCELED = -11, /* the caller asked to stop (a key generation cancelled from the PC) */
	WIM_E_AUTH = -12      /* an authentication tag did not verify (wim_aead_open): nothing was released */
};

/*
 * A flash partition with NOR semantics: erase sets a whole sector to 0xFF, write can only
 * clear bits (1 → 0). Offsets are relative to the partition. All functions return 0 or a
 * negative WIM_E_* code.
 *
 * On a partition under flash encryption (ESP-IDF, AES-XTS) write encrypts whole 16-byte blocks
 * (offset and length multiples of 16) and a block can be written once per erase; read decrypts, so an
 * erased block reads as pseudo-random bytes; read_raw returns the bytes on the chip undecrypted
 * (0xFF when erased). On plain flash read_raw is read; NULL means the same. The key store writes only
 * whole 16-byte blocks, each once, and asks read_raw whether a block is erased (docs/store.md).
 */
typedef struct wim_flash {
	void *ctx;
	uint32_t size;        /* bytes, a multiple of sector_size */
	uint32_t sector_size; /* 4096 on the ESP32 */
	int (*read)(void *ctx, uint32_t offset, void *buf, uint32_t len);
	int (*write)(void *ctx, uint32_t offset, const void *buf, uint32_t len);
	int (*erase)(void *ctx, uint32_t sector_offset);
	int (*read_raw)(void *ctx, uint32_t offset, void *buf, uint32_t len); /* NULL: read */
} wim_flash;

/* A source of random bytes (hardware RNG, OS, or a seeded generator in tests). */
typedef struct wim_rng {
	void *ctx;
	int (*fill)(void *ctx, uint8_t *buf, size_t len); /* 0 or WIM_E_RNG */
} wim_rng;

/* Provided by each host (sim/, hosts/esp32/): the partition the key store lives on and the RNG. */
const wim_flash *wim_host_flash(void);
const wim_rng *wim_host_rng(void);

#endif
