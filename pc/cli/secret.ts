/**
 * PINs for the command line (docs/security.md, "PIN entry"): from an environment variable the user
 * names, else typed at the terminal with echo off, else one line of standard input (scripts). Never
 * from the command line (another user's `ps` shows argv), never printed, never logged.
 */
import { createInterface } from "node:readline";
import { Failure, UsageError } from "./common.js";

/** Standard input read as lines once, shared by every PIN a command asks for (a script pipes them). */
let lines: { next(): Promise<string | undefined> } | undefined;

function stdinLines(): { next(): Promise<string | undefined> } {
  if (lines) return lines;
  const queue: string[] = [];
  let waiting: ((l: string | undefined) => void) | undefined;
  let ended = false;
  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on("line", (l) => (waiting ? (waiting(l), (waiting = undefined)) : queue.push(l)));
  rl.on("close", () => {
    ended = true;
    waiting?.(undefined);
    waiting = undefined;
  });
  lines = {
    next: () => {
      if (queue.length) return Promise.resolve(queue.shift());
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => (waiting = resolve));
    },
  };
  return lines;
}

/** Stops reading standard input (so that the process can exit). */
export function doneWithInput(): void {
  if (lines) process.stdin.destroy();
}

/** Reads a line at the terminal without echo (raw mode: the characters are never written back). */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  stdin.setRawMode(true); // before the prompt: nothing typed after it is ever echoed
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (err?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new Failure("interrupted"));
        if (ch === "\u0004" && typed === "") return done(new Failure("no PIN given"));
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else if (ch === "\u0015") typed = ""; // Ctrl-U
        else if (ch >= " ") typed += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/**
 * A secret: the environment variable `env` if set (named by the user with --pin-env and friends, or
 * the default WIM_PIN / WIM_SO_PIN / WIM_NEW_PIN), else a prompt at the terminal (echo off), else a line
 * of standard input. `confirm`: at a terminal, asked twice and compared (a new PIN).
 */
export async function secret(env: string, prompt: string, confirm = false): Promise<string> {
  const value = process.env[env];
  if (value !== undefined && value !== "") return value;
  if (process.stdin.isTTY) {
    const first = await readHidden(`${prompt}: `);
    if (confirm && (await readHidden(`${prompt} again: `)) !== first) throw new Failure("the two entries differ: nothing changed");
    return first;
  }
  const line = await stdinLines().next();
  if (line === undefined) throw new UsageError(`${prompt}: none given (set ${env}, or type it at a terminal, or give it on standard input)`);
  return line;
}

/** A yes/no confirmation (`expected` must be typed exactly); without a terminal, --yes is needed. */
export async function confirmed(question: string, expected: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError(`${question}: give --yes to confirm without a terminal`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((resolve) => rl.question(`${question}: `, resolve));
  rl.close();
  return answer.trim() === expected;
}
