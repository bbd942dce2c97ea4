/**
 * The human-readable synopsis of a command ("AT+PKCSOPEN=<flags>" → "+PKCSOPEN: <session>"),
 * as docs/at-pkcs.md writes it; the agreement test checks the document against the table with it.
 */
import type { CommandSpec, FieldSpec, UnsolicitedSpec } from "./table.js";

const field = (f: FieldSpec) => (f.type === "uint" ? `<${f.name}>` : `"<${f.name}>"`);

/** "AT+NAME=<a>,\"<b>\"" or "AT+NAME?". */
export function requestSynopsis(spec: CommandSpec): string {
  if (spec.form === "read") return `AT${spec.name}?`;
  if (spec.form === "exec") return `AT${spec.name}`;
  let text = `AT${spec.name}=`;
  spec.params.forEach((p, i) => (text += p.optional ? `[${i ? "," : ""}${field(p)}]` : `${i ? "," : ""}${field(p)}`));
  return text;
}

/** "+NAME: <a>,<b>", or "" when the command answers only OK. */
export function responseSynopsis(spec: CommandSpec): string {
  return spec.response.length ? `${spec.name}: ${spec.response.map(field).join(",")}` : "";
}

/** "+NAME: <a>" of an unsolicited result code. */
export function unsolicitedSynopsis(spec: UnsolicitedSpec): string {
  return `${spec.name}: ${spec.fields.map(field).join(",")}`;
}
