/*
 * test_hash.c — the digests the device computes (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512): FIPS 180-4's
 * examples ("abc", the two-block messages, one million 'a'), each fed whole and byte by byte (the buffering),
 * on the host and on rv32imc under QEMU. The C hashes serve RSA-PSS/OAEP (MGF1, the label hash) and PIN
 * verifiers; noble's are the reference on the PC (test/wim/native-hash.test.ts checks them against each other).
 */
#include <string.h>

#include "test_util.h"
#include "wim_sha1.h"
#include "wim_sha256.h"
#include "wim_sha512.h"

enum { H1, H224, H256, H384, H512 };

static void digest(int alg, const uint8_t *m, size_t len, int bytewise, size_t repeat, uint8_t out[64])
{
	union { wim_sha1 s1; wim_sha256 s256; wim_sha512 s512; } c;
	size_t step = bytewise ? 1 : len;
	switch (alg) {
	case H1: wim_sha1_init(&c.s1); break;
	case H224: wim_sha224_init(&c.s256); break;
	case H256: wim_sha256_init(&c.s256); break;
	case H384: wim_sha384_init(&c.s512); break;
	default: wim_sha512_init(&c.s512); break;
	}
	for (size_t r = 0; r < repeat; r++)
		for (size_t i = 0; i < len; i += step) {
			size_t n = len - i < step ? len - i : step;
			if (alg == H1)
				wim_sha1_update(&c.s1, m + i, n);
			else if (alg <= H256)
				wim_sha256_update(&c.s256, m + i, n);
			else
				wim_sha512_update(&c.s512, m + i, n);
		}
	if (alg == H1)
		wim_sha1_final(&c.s1, out);
	else if (alg <= H256)
		wim_sha256_final(&c.s256, out);
	else
		wim_sha512_final(&c.s512, out);
}

void test_hash(void)
{
	static const char abc[] = "abc";
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char two1024[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
				      "klmnopqrlmnopqrsmnopqrstnopqrstu";
	uint8_t a[1000];
	memset(a, 'a', sizeof a);
	static const struct { int alg; size_t len; const char *m; size_t repeat; const char *hex; } V[] = {
		{ H1, 3, abc, 1, "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ H1, 56, two, 1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
		{ H1, 0, "", 1, "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ H1, 1000, NULL, 1000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
		{ H224, 3, abc, 1, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7" },
		{ H224, 56, two, 1, "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525" },
		{ H256, 3, abc, 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ H256, 1000, NULL, 1000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
		{ H384, 3, abc, 1, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
				   "8086072ba1e7cc2358baeca134c825a7" },
		{ H384, 112, two1024, 1, "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712"
					 "fcc7c71a557e2db966c3e9fa91746039" },
		{ H512, 3, abc, 1, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
				   "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
		{ H512, 112, two1024, 1, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
					 "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909" },
	};
	static const size_t size[] = { 20, 28, 32, 48, 64 };
	for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
		uint8_t got[64], want[64];
		const uint8_t *m = V[i].m ? (const uint8_t *)V[i].m : a;
		size_t n = size[V[i].alg];
		t_hex(want, n, V[i].hex);
		for (int bytewise = 0; bytewise < (V[i].repeat > 1 ? 1 : 2); bytewise++) {
			digest(V[i].alg, m, V[i].len, bytewise, V[i].repeat, got);
			CHECK(memcmp(got, want, n) == 0);
		}
	}
}
