/**
 * Token state: label, PIN verifiers and retry counters, persisted as one store record.
 * Retry discipline: the counter is decremented and made durable BEFORE the PIN is compared,
 * and restored only after a successful comparison, so cutting power never gives a free try.
 */
import { CKF, CKR, PkcsError } from "../at/pkcs11.js";
import { HASH, type NativeCrypto } from "./native.js";
import { TOKEN_RECORD } from "./objects.js";
import { type PinVerifier, checkPin, makeVerifier } from "./pin.js";

/** Retry limits set at initialization. */
export const USER_TRIES = 3;
export const SO_TRIES = 15;
export const MIN_PIN = 4;
export const MAX_PIN = 64;

interface TokenState {
  label: string;
  so: PinVerifier;
  user?: PinVerifier;
  soTries: number;
  userTries: number;
  /** C_InitToken has begun erasing the old objects: until this is cleared, every start finishes it. */
  erasing?: boolean;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => (x < 16 ? "0" : "") + x.toString(16)).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

function encodeState(s: TokenState): ArrayBuffer {
  const v = (p?: PinVerifier) => p && { salt: hex(p.salt), hash: hex(p.hash) };
  const json = JSON.stringify({ v: 1, label: s.label, so: v(s.so), user: v(s.user), soTries: s.soTries, userTries: s.userTries,
    erasing: s.erasing || undefined });
  return new TextEncoder().encode(json).buffer as ArrayBuffer;
}

function decodeState(raw: ArrayBuffer): TokenState | undefined {
  try {
    const j = JSON.parse(new TextDecoder().decode(new Uint8Array(raw)));
    const v = (p: { salt: string; hash: string } | undefined) => p && { salt: unhex(p.salt), hash: unhex(p.hash) };
    if (j.v !== 1 || typeof j.label !== "string" || !j.so) return undefined;
    return { label: j.label, so: v(j.so)!, user: v(j.user), soTries: j.soTries, userTries: j.userTries, erasing: j.erasing === true };
  } catch {
    return undefined;
  }
}

/** Which PIN a login presents. */
export type PinRole = "so" | "user";

/** The token's persistent state and its PIN checks. */
export class TokenInfo {
  private state: TokenState | undefined;

  /** SHA-256 for the PIN verifiers: the C core's. */
  private readonly sha256: (m: Uint8Array) => Uint8Array;

  constructor(private readonly native: NativeCrypto, private readonly random: (b: Uint8Array) => void) {
    this.sha256 = (m) => new Uint8Array(native.hash(HASH.SHA256, m));
    const raw = native.storeGet(TOKEN_RECORD);
    this.state = raw && decodeState(raw);
  }

  get initialized(): boolean {
    return this.state !== undefined;
  }

  get label(): string {
    return this.state?.label ?? "";
  }

  get userPinInitialized(): boolean {
    return this.state?.user !== undefined;
  }

  /** The retry counters (AT+PKCSSTAT): tries left and the maximum; a PIN not set has none left. */
  get tries(): { user: number; userMax: number; so: number; soMax: number } {
    const s = this.state;
    return { user: s?.user ? s.userTries : 0, userMax: USER_TRIES, so: s ? s.soTries : 0, soMax: SO_TRIES };
  }

  /** CKF_* token flags, including the PIN counter flags. */
  get flags(): number {
    let f = CKF.RNG | CKF.LOGIN_REQUIRED | CKF.RESTORE_KEY_NOT_NEEDED;
    const s = this.state;
    if (!s) return f;
    f |= CKF.TOKEN_INITIALIZED;
    if (s.user) {
      f |= CKF.USER_PIN_INITIALIZED;
      if (s.userTries === 0) f |= CKF.USER_PIN_LOCKED;
      else if (s.userTries === 1) f |= CKF.USER_PIN_FINAL_TRY | CKF.USER_PIN_COUNT_LOW;
      else if (s.userTries < USER_TRIES) f |= CKF.USER_PIN_COUNT_LOW;
    }
    if (s.soTries === 0) f |= CKF.SO_PIN_LOCKED;
    else if (s.soTries === 1) f |= CKF.SO_PIN_FINAL_TRY | CKF.SO_PIN_COUNT_LOW;
    else if (s.soTries < SO_TRIES) f |= CKF.SO_PIN_COUNT_LOW;
    return f;
  }

  /**
   * (Re)initializes: a new SO PIN and label, no user PIN. An initialized token needs its SO PIN first.
   * The new state is written marked `erasing` (one record, so a power cut leaves the old state or the
   * new one): the caller then erases every object and calls erased(); a start that finds the mark
   * erases them first (Wim's constructor), so the old objects never outlive a re-initialization.
   */
  initialize(soPin: string, label: string): void {
    checkPinLength(soPin);
    if (this.state) this.verify("so", soPin);
    this.state = { label, so: makeVerifier(soPin, this.random, this.sha256), soTries: SO_TRIES, userTries: USER_TRIES, erasing: true };
    this.save();
  }

  /** True while an initialization's erase of the old objects is unfinished. */
  get erasing(): boolean {
    return this.state?.erasing === true;
  }

  /** The initialization's erase is complete. */
  erased(): void {
    const s = this.requireState();
    s.erasing = undefined;
    this.save();
  }

  /** Checks a PIN with the retry discipline; throws CKR_PIN_INCORRECT / CKR_PIN_LOCKED. */
  verify(role: PinRole, pin: string): void {
    const s = this.requireState();
    const verifier = role === "so" ? s.so : s.user;
    if (!verifier) throw new PkcsError(CKR.USER_PIN_NOT_INITIALIZED);
    const key = role === "so" ? "soTries" : "userTries";
    const max = role === "so" ? SO_TRIES : USER_TRIES;
    if (s[key] <= 0) throw new PkcsError(CKR.PIN_LOCKED);
    checkPinLength(pin); // no PIN outside the limits was ever set: it cannot be right, so it costs no try
    s[key]--;
    this.save(); // durable before the comparison
    if (!checkPin(verifier, pin, this.sha256)) throw new PkcsError(CKR.PIN_INCORRECT);
    s[key] = max;
    this.save();
  }

  /** C_SetPIN: checks the old PIN (with the retry discipline), then sets the new one. */
  changePin(role: PinRole, oldPin: string, newPin: string): void {
    checkPinLength(newPin);
    this.verify(role, oldPin);
    const s = this.requireState();
    if (role === "so") s.so = makeVerifier(newPin, this.random, this.sha256);
    else s.user = makeVerifier(newPin, this.random, this.sha256);
    this.save();
  }

  /** Sets the user PIN (C_InitPIN by the SO) and unlocks it. */
  setUserPin(pin: string): void {
    checkPinLength(pin);
    const s = this.requireState();
    s.user = makeVerifier(pin, this.random, this.sha256);
    s.userTries = USER_TRIES;
    this.save();
  }

  private requireState(): TokenState {
    if (!this.state) throw new PkcsError(CKR.TOKEN_NOT_RECOGNIZED);
    return this.state;
  }

  private save(): void {
    this.native.storePut(TOKEN_RECORD, encodeState(this.state!));
  }
}

function checkPinLength(pin: string): void {
  if (pin.length < MIN_PIN || pin.length > MAX_PIN) throw new PkcsError(CKR.PIN_LEN_RANGE);
}
