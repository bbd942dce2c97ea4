/**
 * AT-layer cost per command: line assembly, V.250 parsing, parameter decoding (base64 included),
 * dispatch, response formatting — with handlers that only hand back prepared values, so that what is
 * measured is the AT layer. The same code runs on XS (in the simulator) and on Node.
 */
import { AtEngine, type CommandHandler } from "../../modules/at/engine.js";
import { encodeCommand } from "../../modules/at/codec.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";

/** One result: commands run and milliseconds per command. */
export interface AtBenchResult {
  commands: number;
  msPerCommand: number;
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Runs `rounds` rounds of a mix of agent traffic and returns the cost per command. */
export function benchAt(now: () => number, rounds: number): AtBenchResult {
  const sig = new Uint8Array(256).map((_, i) => i);
  const digestInfo = new Uint8Array(51).map((_, i) => 255 - i);
  const values = new Uint8Array(120).map((_, i) => i * 3);
  const handlers = new Map<string, CommandHandler>([
    ["+PKCSSIGN", () => [[sig]]],
    ["+PKCSATTR", () => [[values]]],
    ["+PKCSOPEN", () => [[1]]],
    ["+PKCSFIND", () => [[17], [18], [19]]],
    ["+PKCSTOKEN", () => [["WIM", 1037, 4, 64, 1, 1]]],
  ]);
  let bytesOut = 0;
  const engine = new AtEngine({ write: (b) => (bytesOut += b.length), handlers, identity: { manufacturer: "M", model: "T", revision: "1", serial: "S" } });
  const cmd = (name: string, v: (number | Uint8Array)[] = []) => latin1(encodeCommand(COMMAND_BY_NAME.get(name)!, v) + "\r");
  const mix = [
    latin1("ATE0\r"),
    cmd("+PKCSSIGN", [1, 17, 1, digestInfo]),
    cmd("+PKCSATTR", [1, 17, new Uint8Array(20)]),
    cmd("+PKCSOPEN", [6]),
    cmd("+PKCSFIND", [1, new Uint8Array(24)]),
    cmd("+PKCSTOKEN"),
  ];
  for (const line of mix) engine.receive(line); // warm-up
  const t0 = now();
  for (let r = 0; r < rounds; r++) for (const line of mix) engine.receive(line);
  const ms = now() - t0;
  if (bytesOut === 0) throw new Error("the engine answered nothing");
  return { commands: rounds * mix.length, msPerCommand: ms / (rounds * mix.length) };
}
