/**
 * The Noise IK handshake (noiseprotocol.org, revision 34) and its transport cipher states: the secure
 * channel of docs/channel.md. Pure: the primitives come from a NoiseSuite, so the device runs it on its
 * C core (P-256 ECDH with an ephemeral scalar that never leaves RAM, ChaCha20-Poly1305, SHA-256) and the
 * PC on @noble, and the tests run the same state machine on X25519 against the published vectors.
 *
 *   IK:  <- s
 *        ...
 *        -> e, es, s, ss
 *        <- e, ee, se
 *
 * The PC (initiator) knows the device's static key from pairing; the device (responder) learns the PC's
 * static key from the first message, encrypted, and checks it against its table of paired hosts before
 * it answers. One round trip; after it, each direction has its own key and an implicit counter.
 */

/** One side's Diffie-Hellman key: its public key as it travels, and the shared secret with a peer's. */
export interface DhKey {
  readonly publicKey: Uint8Array;
  /** The shared secret (DHLEN bytes); throws if `peer` is not a valid public key. */
  dh(peer: Uint8Array): Uint8Array;
}

/** The primitives of one Noise protocol name. */
export interface NoiseSuite {
  /** The full protocol name, e.g. "Noise_IK_P256_ChaChaPoly_SHA256". */
  readonly name: string;
  /** Bytes of a public key on the wire. */
  readonly publicLength: number;
  /** A fresh ephemeral key. */
  generate(): DhKey;
  /** The hash (32-byte output, 64-byte blocks: SHA-256). */
  hash(data: Uint8Array): Uint8Array;
  /** AEAD with Noise's nonce for `counter`: ciphertext with its 16-byte tag. */
  seal(key: Uint8Array, counter: number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The plaintext, or undefined if the tag is wrong. */
  open(key: Uint8Array, counter: number, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined;
}

/** The channel's prologue before the device serial (docs/channel.md): both ends hash it into the handshake. */
export const CHANNEL_PROLOGUE = "WIM AT+PKCS channel 1";
/** The protocol name of the channel (docs/channel.md). */
export const CHANNEL_PROTOCOL = "Noise_IK_P256_ChaChaPoly_SHA256";
/** Bytes of a P-256 public key on the wire: SEC 1 uncompressed (0x04, x, y). */
export const P256_PUBLIC = 65;
/** Bytes an AEAD adds. */
export const TAG = 16;
const HASHLEN = 32;
const BLOCKLEN = 64;
/** The last counter a cipher state may use; the channel ends before it wraps (the device's AEAD takes a u32). */
export const MAX_COUNTER = 0xfffffffe;

/** The handshake or a record failed: the channel ends. */
export class NoiseError extends Error {}

const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** HMAC (RFC 2104) over the suite's hash. */
export function hmac(suite: NoiseSuite, key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(BLOCKLEN);
  k.set(key.length > BLOCKLEN ? suite.hash(key) : key);
  const pad = new Uint8Array(BLOCKLEN);
  for (let i = 0; i < BLOCKLEN; i++) pad[i] = k[i] ^ 0x36;
  const inner = suite.hash(concat(pad, data));
  for (let i = 0; i < BLOCKLEN; i++) pad[i] = k[i] ^ 0x5c;
  const out = suite.hash(concat(pad, inner));
  k.fill(0);
  pad.fill(0);
  return out;
}

/** Noise's HKDF: two outputs of HASHLEN bytes from the chaining key and input key material. */
function hkdf2(suite: NoiseSuite, ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const temp = hmac(suite, ck, ikm);
  const one = hmac(suite, temp, Uint8Array.of(1));
  const two = hmac(suite, temp, concat(one, Uint8Array.of(2)));
  temp.fill(0);
  return [one, two];
}

/** One direction of a channel: a key and its implicit counter (Noise's CipherState). */
export class CipherState {
  private n = 0;
  constructor(private readonly suite: NoiseSuite, private key: Uint8Array | undefined) {}

  get hasKey(): boolean {
    return this.key !== undefined;
  }

  /** Records sealed or opened so far. */
  get counter(): number {
    return this.n;
  }

  encrypt(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.key) return plaintext;
    if (this.n > MAX_COUNTER) throw new NoiseError("counter exhausted");
    return this.suite.seal(this.key, this.n++, ad, plaintext);
  }

  /** The plaintext; throws NoiseError if the tag is wrong (the counter does not move then). */
  decrypt(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (!this.key) return ciphertext;
    if (this.n > MAX_COUNTER) throw new NoiseError("counter exhausted");
    const pt = ciphertext.length < TAG ? undefined : this.suite.open(this.key, this.n, ad, ciphertext);
    if (!pt) throw new NoiseError("record authentication failed");
    this.n++;
    return pt;
  }

  /** Forgets the key (the channel ended). */
  clear(): void {
    this.key?.fill(0);
    this.key = undefined;
  }
}

/** Noise's SymmetricState. */
class Symmetric {
  ck: Uint8Array;
  h: Uint8Array;
  cipher: CipherState;

  constructor(private readonly suite: NoiseSuite) {
    const name = ascii(suite.name);
    if (name.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN);
      this.h.set(name);
    } else {
      this.h = suite.hash(name);
    }
    this.ck = this.h.slice();
    this.cipher = new CipherState(suite, undefined);
  }

  mixHash(data: Uint8Array): void {
    this.h = this.suite.hash(concat(this.h, data));
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf2(this.suite, this.ck, ikm);
    this.ck.fill(0);
    this.ck = ck;
    this.cipher.clear();
    this.cipher = new CipherState(this.suite, k);
    ikm.fill(0);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ct = this.cipher.encrypt(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const pt = this.cipher.decrypt(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  /** The two transport cipher states: initiator → responder, responder → initiator. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf2(this.suite, this.ck, EMPTY);
    this.ck.fill(0);
    this.cipher.clear();
    return [new CipherState(this.suite, k1), new CipherState(this.suite, k2)];
  }
}

/** A finished handshake: the cipher state for what this side sends and for what it receives. */
export interface Transport {
  readonly send: CipherState;
  readonly receive: CipherState;
  /** The handshake hash (channel binding). */
  readonly handshakeHash: Uint8Array;
}

/** Bytes of the first message: e, the encrypted static key, the encrypted payload. */
export const message1Length = (suite: NoiseSuite, payload: number): number =>
  suite.publicLength + suite.publicLength + TAG + payload + TAG;
/** Bytes of the second message: e and the encrypted payload. */
export const message2Length = (suite: NoiseSuite, payload: number): number => suite.publicLength + payload + TAG;

/** The PC's side of IK: knows the device's static key `rs`. */
export class IkInitiator {
  private readonly ss: Symmetric;
  private e: DhKey | undefined;

  constructor(private readonly suite: NoiseSuite, private readonly s: DhKey, private readonly rs: Uint8Array,
    prologue: Uint8Array) {
    this.ss = new Symmetric(suite);
    this.ss.mixHash(prologue);
    this.ss.mixHash(rs);
  }

  /** -> e, es, s, ss, payload */
  writeMessage1(payload: Uint8Array = EMPTY): Uint8Array {
    const e = (this.e = this.suite.generate());
    this.ss.mixHash(e.publicKey);
    this.ss.mixKey(e.dh(this.rs));
    const s = this.ss.encryptAndHash(this.s.publicKey);
    this.ss.mixKey(this.s.dh(this.rs));
    const p = this.ss.encryptAndHash(payload);
    const out = new Uint8Array(e.publicKey.length + s.length + p.length);
    out.set(e.publicKey);
    out.set(s, e.publicKey.length);
    out.set(p, e.publicKey.length + s.length);
    return out;
  }

  /** <- e, ee, se, payload; throws NoiseError if the message is not the device's answer. */
  readMessage2(message: Uint8Array): { payload: Uint8Array; transport: Transport } {
    const len = this.suite.publicLength;
    if (!this.e || message.length < len + TAG) throw new NoiseError("handshake message too short");
    const re = message.slice(0, len);
    this.ss.mixHash(re);
    this.ss.mixKey(dhOrFail(this.e, re));
    this.ss.mixKey(dhOrFail(this.s, re));
    const payload = this.ss.decryptAndHash(message.subarray(len));
    this.e = undefined;
    const h = this.ss.h;
    const [i2r, r2i] = this.ss.split();
    return { payload, transport: { send: i2r, receive: r2i, handshakeHash: h } };
  }
}

/** The device's side of IK. */
export class IkResponder {
  private readonly ss: Symmetric;
  private re: Uint8Array | undefined;
  private rs: Uint8Array | undefined;

  constructor(private readonly suite: NoiseSuite, private readonly s: DhKey, prologue: Uint8Array) {
    this.ss = new Symmetric(suite);
    this.ss.mixHash(prologue);
    this.ss.mixHash(s.publicKey);
  }

  /** -> e, es, s, ss, payload: returns the PC's static key (for the caller to check) and the payload. */
  readMessage1(message: Uint8Array): { remoteStatic: Uint8Array; payload: Uint8Array } {
    const len = this.suite.publicLength;
    if (message.length < len + len + TAG + TAG) throw new NoiseError("handshake message too short");
    const re = (this.re = message.slice(0, len));
    this.ss.mixHash(re);
    this.ss.mixKey(dhOrFail(this.s, re));
    const rs = (this.rs = this.ss.decryptAndHash(message.subarray(len, len + len + TAG)));
    this.ss.mixKey(dhOrFail(this.s, rs));
    const payload = this.ss.decryptAndHash(message.subarray(len + len + TAG));
    return { remoteStatic: rs, payload };
  }

  /** <- e, ee, se, payload: the answer and the finished channel. */
  writeMessage2(payload: Uint8Array = EMPTY): { message: Uint8Array; transport: Transport } {
    if (!this.re || !this.rs) throw new NoiseError("handshake out of order");
    const e = this.suite.generate();
    this.ss.mixHash(e.publicKey);
    this.ss.mixKey(e.dh(this.re));
    this.ss.mixKey(e.dh(this.rs));
    const p = this.ss.encryptAndHash(payload);
    const message = concat(e.publicKey, p);
    const h = this.ss.h;
    const [i2r, r2i] = this.ss.split();
    this.re = this.rs = undefined;
    return { message, transport: { send: r2i, receive: i2r, handshakeHash: h } };
  }
}

/** A DH with a peer's key from the wire: an invalid point is a failed handshake, not a crash. */
function dhOrFail(key: DhKey, peer: Uint8Array): Uint8Array {
  try {
    return key.dh(peer);
  } catch {
    throw new NoiseError("invalid public key in handshake");
  }
}
