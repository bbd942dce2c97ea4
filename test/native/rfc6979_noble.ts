/**
 * The EC core's ECDSA nonces against @noble/curves' RFC 6979: reads the lines build/native-diff-ec
 * --emit-rfc6979 wrote ("curve d hash hedge|- r||s", hex) and signs the same hash with the same key in
 * noble — HMAC-SHA-256 for both curves, as the core does, the hedge as noble's extraEntropy (RFC 6979
 * section 3.6) — which must give the same signature byte for byte. Exits non-zero on any difference.
 *
 *   npx tsx test/native/rfc6979_noble.ts FILE
 */
import { readFileSync } from "node:fs";
import { ecdsa } from "@noble/curves/abstract/weierstrass.js";
import { p256, p384 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";

const signers = { "P-256": ecdsa(p256.Point, sha256), "P-384": ecdsa(p384.Point, sha256) } as const;
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const lines = readFileSync(process.argv[2], "utf8").trim().split("\n");
let same = 0, hedged = 0;
const differ: string[] = [];
for (const line of lines) {
  const [curve, d, hash, hedge, rs] = line.split(" ");
  const signer = signers[curve as keyof typeof signers];
  if (!signer) throw new Error(`unknown curve in: ${line}`);
  const sig = signer.sign(bytes(hash), bytes(d), { prehash: false, lowS: false, extraEntropy: hedge === "-" ? false : bytes(hedge) });
  if (hex(sig) === rs) {
    same++;
    if (hedge !== "-") hedged++;
  } else differ.push(`${curve} d=${d} hash=${hash} hedge=${hedge}: ours ${rs}, noble ${hex(sig)}`);
}
console.log(`RFC 6979 nonces: ${same}/${lines.length} signatures equal @noble/curves' (${hedged} hedged, ${same - hedged} deterministic)`);
for (const d of differ.slice(0, 5)) console.log(`  differs: ${d}`);
process.exit(differ.length || lines.length === 0 ? 1 : 0);
