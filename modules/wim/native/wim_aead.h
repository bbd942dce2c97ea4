/*
 * wim_aead.h — ChaCha20-Poly1305 (RFC 8439) for the C core: the AEAD of the secure channel's Noise
 * handshake and transport messages (Noise's ChaChaPoly cipher), and the ChaCha20 and Poly1305 pieces it is
 * built from (exported for the RFC's test vectors).
 *
 * Secret: the key, the Poly1305 one-time key (r, s), the key stream, the plaintext, the computed tag.
 * Public: the nonce, the lengths, the associated data, the ciphertext, the received tag and the verdict of
 * the tag check (it is the result). Nothing branches on or indexes memory with a secret: ChaCha20 is
 * additions, rotations and XORs; Poly1305 works on 26-bit limbs with 32x32->64 products and reduces with
 * masks; the tag is compared by XOR-accumulating every byte; a failed open zeroes its output with a mask
 * after the same decryption work a good one does.
 *
 * Byte strings may overlap only exactly (out == pt or out == ct: in place). No malloc, no scratch: at most
 * about 420 bytes of stack on rv32imc (-fstack-usage), the secret parts wiped before returning.
 */
#ifndef WIM_AEAD_H
#define WIM_AEAD_H

#include "wim_env.h"

#define WIM_AEAD_KEY 32
#define WIM_AEAD_NONCE 12
#define WIM_AEAD_TAG 16

/* out (pt_len + 16 bytes) = ChaCha20(key, nonce, counter 1..) XOR pt, then the Poly1305 tag over ad and
 * the ciphertext. WIM_E_ARG if pt_len exceeds RFC 8439's limit (2^32 - 1 blocks of 64 bytes). */
int wim_aead_seal(const uint8_t key[WIM_AEAD_KEY], const uint8_t nonce[WIM_AEAD_NONCE], const uint8_t *ad,
		size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out);

/* out (ct_len - 16 bytes) = the plaintext of ct (ciphertext then tag) if the tag is right: WIM_OK.
 * WIM_E_AUTH if it is not (out is all zeros then: nothing of the plaintext is released); WIM_E_ARG if
 * ct_len < 16 or too long (out untouched). */
int wim_aead_open(const uint8_t key[WIM_AEAD_KEY], const uint8_t nonce[WIM_AEAD_NONCE], const uint8_t *ad,
		size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

/* The ChaCha20 block function (RFC 8439 section 2.3): 64 bytes of key stream for block `counter`. */
void wim_chacha20_block(const uint8_t key[WIM_AEAD_KEY], uint32_t counter, const uint8_t nonce[WIM_AEAD_NONCE],
		uint8_t out[64]);

/* ChaCha20 encryption (section 2.4): out = in XOR the key stream from block `counter` on (in place allowed). */
void wim_chacha20_xor(const uint8_t key[WIM_AEAD_KEY], uint32_t counter, const uint8_t nonce[WIM_AEAD_NONCE],
		const uint8_t *in, size_t len, uint8_t *out);

/* Poly1305 (section 2.5): the 16-byte tag of msg under the one-time key (r then s, 32 bytes). */
void wim_poly1305(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t tag[WIM_AEAD_TAG]);

#endif
