/**
 * The AT+PKCS command handlers of the device: each decodes its typed parameters, calls the
 * security manager, and returns the values of its response lines (per modules/at/table.ts).
 */
import { CME, CmeError, type CommandHandler, type LinkContext } from "../at/engine.js";
import { CKR, PkcsError } from "../at/pkcs11.js";
import { type Attribute, decodeTemplate, decodeTypes, encodeTemplate } from "../at/template.js";
import { toPkcsError } from "./errors.js";
import type { Wim } from "./wim.js";

function template(bytes: unknown): Attribute[] {
  const t = decodeTemplate(bytes as Uint8Array);
  if (!t) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "malformed template");
  return t;
}

/** A handler whose failures all arrive as the CK_RV they stand for. */
function mapped(handler: CommandHandler): CommandHandler {
  return (params, link) => {
    try {
      return handler(params, link);
    } catch (e) {
      if (e instanceof CmeError) throw e;
      throw toPkcsError(e);
    }
  };
}

/** Handlers by command name, bound to one security manager. */
export function commandHandlers(wim: Wim): Map<string, CommandHandler> {
  return new Map([...handlers(wim)].map(([name, h]) => [name, mapped(h)]));
}

function handlers(wim: Wim): Map<string, CommandHandler> {
  const n = (v: unknown) => v as number;
  const str = (v: unknown) => v as string;
  const bytes = (v: unknown) => v as Uint8Array;
  /** The link's selected channel, as the security manager knows it (each link has its own channels). */
  const at = (link: LinkContext) => wim.linkChannel(link.id, link.channel);
  return new Map<string, CommandHandler>([
    ["+PKCSTOKEN", () => {
      const t = wim.tokenInfo();
      return [[t.label, t.flags, t.minPin, t.maxPin, t.sessions, t.rwSessions]];
    }],
    ["+PKCSSTAT", () => [wim.status()]],
    ["+PKCSMECH", () => wim.mechanisms().map((m) => [m.type, m.minKeySize, m.maxKeySize, m.flags])],
    ["+PKCSINIT", ([so, label]) => (wim.initToken(str(so), str(label)), [])],
    ["+PKCSCHO", (_, link) => [[wim.openChannel(link.id)]]],
    ["+PKCSCHC", ([ch], link) => {
      if (n(ch) === 0 || !wim.hasChannel(n(ch), link.id)) throw new CmeError(CME.NOT_ALLOWED);
      wim.closeChannel(n(ch));
      if (link.channel === n(ch)) link.channel = 0;
      return [];
    }],
    ["+PKCSCH", ([ch], link) => {
      if (!wim.hasChannel(n(ch), link.id)) throw new CmeError(CME.NOT_ALLOWED);
      link.channel = n(ch);
      return [];
    }],
    ["+PKCSOPEN", ([flags], link) => [[wim.openSession(at(link), n(flags))]]],
    ["+PKCSCLOSE", ([h], link) => (wim.closeSession(at(link), n(h)), [])],
    ["+PKCSLOGIN", ([h, type, pin], link) => (wim.logIn(at(link), n(h), n(type), str(pin)), [])],
    ["+PKCSLOGOUT", ([h], link) => (wim.logOut(at(link), n(h)), [])],
    ["+PKCSINITPIN", ([h, pin], link) => (wim.initPin(at(link), n(h), str(pin)), [])],
    ["+PKCSFIND", ([h, t], link) => wim.find(at(link), n(h), template(t)).map((o) => [o])],
    ["+PKCSATTR", ([h, o, types], link) => {
      const list = decodeTypes(bytes(types));
      if (!list) throw new PkcsError(CKR.ARGUMENTS_BAD, "malformed type list");
      return [[encodeTemplate(wim.attributes(at(link), n(h), n(o), list))]];
    }],
    ["+PKCSCREATE", ([h, t], link) => [[wim.createObject(at(link), n(h), template(t))]]],
    ["+PKCSCOPY", ([h, o, t], link) => [[wim.copyObject(at(link), n(h), n(o), template(t))]]],
    ["+PKCSDESTROY", ([h, o], link) => (wim.destroyObject(at(link), n(h), n(o)), [])],
    ["+PKCSSETATTR", ([h, o, t], link) => (wim.setAttributes(at(link), n(h), n(o), template(t)), [])],
    ["+PKCSSETPIN", ([h, oldPin, newPin], link) => (wim.setPin(at(link), n(h), str(oldPin), str(newPin)), [])],
    ["+PKCSGENKP", ([h, mech, pub, priv], link) => [wim.generateKeyPair(at(link), n(h), n(mech), template(pub), template(priv), {
      progress: (count) => link.intermediate(`+PKCSKGP: ${count}`),
      cancelled: () => link.interrupted(),
    })]],
    ["+PKCSSIGN", ([h, key, mech, data, param], link) =>
      [[wim.sign(at(link), n(h), n(key), n(mech), param ? bytes(param) : new Uint8Array(0), bytes(data))]]],
    ["+PKCSDECRYPT", ([h, key, mech, data, param], link) =>
      [[wim.decrypt(at(link), n(h), n(key), n(mech), param ? bytes(param) : new Uint8Array(0), bytes(data))]]],
    ["+PKCSDERIVE", ([h, key, mech, param, t], link) => [[wim.deriveKey(at(link), n(h), n(key), n(mech), bytes(param), template(t))]]],
    ["+PKCSRAND", ([h, len], link) => [[wim.random(at(link), n(h), n(len))]]],
    ["+PKCSATTEST", ([h, key], link) => [[wim.attest(at(link), n(h), n(key))]]],
    ["+PKCSIDCERT", () => [[wim.identityCertificate()]]],
    ["+PKCSIDSET", ([h, der], link) => (wim.setIdentityCertificate(at(link), n(h), bytes(der)), [])],
  ]);
}
