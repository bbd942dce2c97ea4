/**
 * What every `wim` verb shares: where the build is, the exit codes (0 ok, 1 failure, 2 usage), failures
 * as messages that say what to do next, and the options map the long-running verbs (sim, agent) read.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CKR, PkcsError, ckrName } from "../../modules/at/pkcs11.js";
import { NoAgentError } from "./rpc.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD = path.join(ROOT, "build");
export const MODULE = path.join(BUILD, "libwim-pkcs11.so");

/** The key types `wim keys generate --type` takes (keys.ts KEY_TYPES says how each is made). */
export const KEY_TYPE_NAMES = ["rsa2048", "rsa3072", "rsa4096", "p256", "p384", "ed25519"] as const;

/** Exit codes: 0 done, 1 it failed, 2 the command line was wrong. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** The options of a verb as `--name` → value (true for a flag), the global ones included. */
export type Options = Map<string, string | true>;

/** A wrong command line found after parsing (a missing choice, a bad value): exit 2. */
export class UsageError extends Error {}

/** A failure whose message already says what happened and what to do next. */
export class Failure extends Error {}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ends the process with a failure message (exit 1). */
export function fail(message: string): never {
  console.error(`wim: ${message}`);
  process.exit(EXIT.FAILED);
}

/** Ends the process with a usage message (exit 2). */
export function usage(message = "wrong arguments (see `wim --help`)"): never {
  console.error(`wim: ${message}`);
  process.exit(EXIT.USAGE);
}

/** A CK_RV the command line did not explain where it happened, as advice. */
const ADVICE: Record<number, string> = {
  [CKR.PIN_LOCKED]: "the PIN is locked: run `wim pin unblock` (with the SO PIN) to set a new user PIN",
  [CKR.USER_PIN_NOT_INITIALIZED]: "no user PIN is set: run `wim pin unblock` (with the SO PIN) to set one",
  [CKR.PIN_LEN_RANGE]: "a PIN has 4 to 64 characters",
  [CKR.PIN_INCORRECT]: "wrong PIN",
  [CKR.TOKEN_NOT_PRESENT]: "no token: plug the device in, or pair this host with it (`wim pair`)",
  [CKR.DEVICE_REMOVED]: "the device went away: plug it in again",
  [CKR.DEVICE_ERROR]: "the device did not answer: check the cable or radio, and the agent's log",
  [CKR.SESSION_EXISTS]: "other applications have sessions open on the token: close them first",
  [CKR.USER_NOT_LOGGED_IN]: "this needs the user PIN",
  [CKR.FUNCTION_NOT_SUPPORTED]: "the agent does not know this request: restart it from this version (`wim agent`)",
  [CKR.SLOT_ID_INVALID]: "no such slot: `wim info` lists them",
  [CKR.DEVICE_MEMORY]: "the token's store is full: delete keys or certificates (`wim keys delete`)",
};

/** A failure's message for the user. */
export function explain(e: unknown): string {
  if (e instanceof PkcsError) return ADVICE[e.rv] ? `${ADVICE[e.rv]} (${ckrName(e.rv)})` : `the token answered ${e.message}`;
  if (e instanceof NoAgentError || e instanceof Failure || e instanceof UsageError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Runs a verb's body: a thrown failure becomes its message and exit 1 (2 for a UsageError). */
export async function guarded(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    console.error(`wim: ${explain(e)}`);
    process.exit(e instanceof UsageError ? EXIT.USAGE : EXIT.FAILED);
  }
}
