/**
 * The device's resource limits, in one place (docs/policy.md explains them). Everything a PC
 * application can make the device hold — logical channels, sessions, session objects — is bounded
 * per application (one logical channel per application) and in total, and part of the total is kept
 * for logged-in applications, so that no application, least of all one without the PIN, can starve
 * the others or run the device out of memory. Running into a limit is a CK_RV (CKR_SESSION_COUNT,
 * CKR_DEVICE_MEMORY); the device keeps answering everyone.
 */

/** Most logical channels open at once, over every link, besides each link's channel 0. When all are taken,
 * AT+PKCSCHO reclaims the least recently used channel that is not logged in (docs/policy.md); only
 * logged-in channels are safe. */
export const MAX_CHANNELS = 16;

/** Reclaimed channel numbers remembered, so that the application that had one gets it back fresh on its
 * next command instead of an error (channel numbers are never handed out twice in a boot). */
export const REMEMBERED_RECLAIMS = 64;

/** Most sessions one channel (one application) may have open. With MAX_CHANNELS + 1 channels this
 * bounds the device's sessions at 136 (144 with the BLE link's channel 0), and no application can take
 * another's. */
export const SESSIONS_PER_CHANNEL = 8;

/** A bound on bytes and on a count. */
export interface Budget {
  readonly bytes: number;
  readonly count: number;
}

/**
 * Session objects (CKA_TOKEN false, kept in the engine's heap) on the whole device. The default
 * ESP32 XS creation gives 78,848 bytes of chunks and 4,928 16-byte slots (157,696 bytes in all);
 * 32 KiB is about 20 % of that, the most the firmware can lend to applications (issue 11: the
 * firmware's own needs come first). A session object is charged by sessionObjectCost, which counts
 * the slots of its attribute map and values as well as their bytes: a data object about 1.3 KB, an
 * ECDH-derived secret key about 2.5 KB.
 */
export const SESSION_OBJECTS: Budget = { bytes: 32 * 1024, count: 96 };

/** The part of SESSION_OBJECTS that only logged-in channels may use: applications without the PIN
 * together hold at most SESSION_OBJECTS minus this. */
export const SESSION_OBJECTS_RESERVE: Budget = { bytes: 8 * 1024, count: 24 };

/** Session objects of one channel: half the total, so one application never holds it all. */
export const SESSION_OBJECTS_PER_CHANNEL: Budget = { bytes: 16 * 1024, count: 48 };

/** The largest one session object may be (charged bytes): room for anything a token object can hold
 * (a store record of 3,072 bytes) with its attributes' overhead. */
export const SESSION_OBJECT_MAX_BYTES = 6 * 1024;

/** Charged per object (its map, its entry in the device's table) and per attribute (a map entry, a
 * Uint8Array and its buffer: about six 16-byte slots on a 32-bit XS). */
const OBJECT_OVERHEAD = 256;
const ATTRIBUTE_OVERHEAD = 96;

/** What a session object costs against the budgets: its values' bytes plus the engine's overhead. */
export function sessionObjectCost(attrs: ReadonlyMap<number, Uint8Array>, secret?: Uint8Array): number {
  let cost = OBJECT_OVERHEAD + (secret ? ATTRIBUTE_OVERHEAD + secret.length : 0);
  for (const v of attrs.values()) cost += ATTRIBUTE_OVERHEAD + v.length;
  return cost;
}
