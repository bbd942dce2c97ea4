/**
 * The secure channel's commands and the clear-mode gate (docs/channel.md): AT+PKCSHS (the Noise IK
 * handshake, the device responding), AT+PKCSPAIR / AT+PKCSPAIRC (pairing), AT+PKCSUNPAIR and
 * AT+PKCSUNPAIRALL (revocation), over the links' record layers (secure-link.ts) and the pairing state
 * (pairing.ts).
 */
import { CME, CmeError, type CommandHandler, type LinkContext } from "../at/engine.js";
import { CKR, PkcsError } from "../at/pkcs11.js";
import type { Env } from "./env.js";
import { EC_CURVE } from "./native.js";
import { CHANNEL_PROLOGUE, IkResponder } from "./noise.js";
import { type ChannelNatives, deviceSuite, pointOf, storedKey } from "./noise-device.js";
import { CHANNEL_KEY_RECORD, type Pairing, PairingRefused } from "./pairing.js";
import type { SecureLink } from "./secure-link.js";
import type { Wim } from "./wim.js";

/** The prologue's text; the device serial follows it (docs/channel.md, "Handshake"). */
export const PROLOGUE = CHANNEL_PROLOGUE;

/**
 * What runs in clear once the device has a paired host: the link's basics, identification, error
 * reporting, version, and what it takes to pair and to open the channel. A Set compared with the name,
 * never a property lookup: the name is text from the link.
 */
const CLEAR_COMMANDS: ReadonlySet<string> = new Set([
  "E", "Q", "V", "Z", "&F", "S3", "S4", "S5", "I", "+GMI", "+GMM", "+GMR", "+GSN", "+GCAP", "+CMEE",
  "+PKCSVER", "+PKCSHS", "+PKCSPAIR", "+PKCSPAIRC",
]);

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

const notAllowed = () => new CmeError(CME.NOT_ALLOWED);

/** The secure channel of every link of one device. */
export class SecureChannels {
  private readonly links: (SecureLink | undefined)[] = [];
  private readonly kinds: ("serial" | "ble" | undefined)[] = [];

  constructor(private readonly env: Env, private readonly wim: Wim, private readonly pairing: Pairing) {
    pairing.onRemoved = () => this.endUnpaired();
  }

  private get native(): ChannelNatives {
    return this.env.native;
  }

  /** Registers link `id`'s record layer and what carries it. */
  attach(id: number, kind: "serial" | "ble" | undefined, link: SecureLink): void {
    this.links[id] = link;
    this.kinds[id] = kind;
  }

  /** The clear-mode gate of link `id` (EngineOptions.gate). */
  gate(id: number): (name: string) => boolean {
    return (name) => this.pairing.paired === 0 || this.links[id]?.secure === true || CLEAR_COMMANDS.has(name);
  }

  /** Ends the sessions whose host is no longer paired. */
  private endUnpaired(): void {
    for (const link of this.links) {
      const host = link?.host;
      if (host && !this.pairing.isPaired(host)) link!.endSoon();
    }
  }

  private link(context: LinkContext): SecureLink {
    const link = this.links[context.id];
    if (!link) throw notAllowed();
    return link;
  }

  /** AT+PKCSHS=<message 1>: the handshake's second message; the session starts after the OK. */
  private handshake(message: Uint8Array, context: LinkContext): Uint8Array {
    const link = this.link(context);
    if (link.secure || this.pairing.paired === 0) throw notAllowed();
    try {
      // the suite, the static key and the prologue live only while the handshake runs (RAM: docs/channel.md)
      const native = this.native;
      const key = storedKey(native, CHANNEL_KEY_RECORD, this.pairing.publicKey);
      const responder = new IkResponder(deviceSuite(native), key, ascii(PROLOGUE + this.env.serial));
      const { remoteStatic } = responder.readMessage1(message);
      if (!this.pairing.isPaired(remoteStatic)) throw notAllowed();
      const { message: answer, transport } = responder.writeMessage2();
      link.arm(transport, remoteStatic);
      return answer;
    } catch (e) {
      throw e instanceof CmeError ? e : notAllowed();
    } finally {
      this.native.ecEphemeralClear();
    }
  }

  /** Handlers of the channel's commands. */
  handlers(): Map<string, CommandHandler> {
    return new Map<string, CommandHandler>([
      ["+PKCSHS", ([message], context) => [[this.handshake(message as Uint8Array, context)]]],
      ["+PKCSHS?", () => [[this.pairing.paired]]],
      ["+PKCSPAIR", ([key, name], context) => {
        const hostKey = key as Uint8Array;
        try {
          // a point on the curve, or no pairing: the C core's ECDH checks it
          this.native.ecEcdh(CHANNEL_KEY_RECORD, EC_CURVE.P256, pointOf(hostKey));
        } catch {
          throw new CmeError(CME.INCORRECT_PARAMETERS);
        }
        try {
          return [[this.pairing.request(hostKey, name as string, this.kinds[context.id])]];
        } catch (e) {
          if (e instanceof PairingRefused) throw notAllowed();
          throw e;
        }
      }],
      ["+PKCSPAIRC", () => [this.pairing.status()]],
      ["+PKCSUNPAIR", (_, context) => {
        const host = this.link(context).host;
        if (!host) throw notAllowed();
        this.pairing.remove(host);
        return [];
      }],
      ["+PKCSUNPAIRALL", ([session], context) => {
        if (!this.link(context).secure) throw notAllowed();
        const ch = this.wim.linkChannel(context.id, context.channel);
        if (this.wim.sessionLogin(ch, session as number) !== "so") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
        this.pairing.removeAll("AT+PKCSUNPAIRALL");
        return [];
      }],
    ]);
  }
}
