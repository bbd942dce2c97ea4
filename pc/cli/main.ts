/**
 * `wim` — the PC side's command line (docs/cli.md): only the wiring of the verbs to their bodies, with
 * commander parsing the arguments. Every verb has --help; exit codes: 0 done, 1 failed, 2 usage.
 *   token verbs (clients of the running agent; --socket, --slot, --serial choose it and the token):
 *     info, pin change|unblock|retries, keys list|generate|delete|export-public, certs list|import|export,
 *     reset, attest, provision, pair, unpair
 *   long-running: sim (simulator + agent, sim.ts), agent (agent.ts: watch mode, --device, --ble, --ble-watch)
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { defaultSocketPath } from "../agent/paths.js";
import { EXIT, KEY_TYPE_NAMES, type Options, ROOT, guarded } from "./common.js";
import type { Global } from "./token.js";

// The verbs' bodies load when their verb runs: `wim --help` and each verb start faster.
const attestVerbs = () => import("./attest.js");
const certVerbs = () => import("./certs.js");
const infoVerbs = () => import("./info.js");
const keyVerbs = () => import("./keys.js");
const pinVerbs = () => import("./pin.js");

const VERSION = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version as string;

const program = new Command("wim");
program
  .description("The WIM token's command line: the token's PINs, keys and certificates through the agent, and the agent itself.")
  .version(VERSION, "-V, --version", "print the version")
  .helpOption("-h, --help", "show help")
  .option("--socket <path>", "the agent's socket (default: $WIM_AGENT_SOCKET, else $XDG_RUNTIME_DIR/wim-agent.sock, else /tmp/wim-<uid>/agent.sock)")
  .option("--slot <id>", "the token in this slot (`wim info` lists them)")
  .option("--serial <serial>", "the token with this serial number")
  .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
  .configureOutput({ outputError: (text, write) => write(`wim: ${text.replace(/^error: /, "")}`) })
  .showHelpAfterError("(see `wim --help`)")
  .exitOverride()
  .addHelpText("after", `
PINs are never taken from the command line: each comes from an environment variable (WIM_PIN,
WIM_SO_PIN, WIM_NEW_PIN, or the one --pin-env / --so-pin-env / --new-pin-env names), else is typed at
the terminal without echo, else is read as one line of standard input.

Exit codes: 0 done, 1 failed (the message says what to do next), 2 wrong command line.
Documentation: docs/cli.md.`);

/** The global options with the socket resolved. */
function global(cmd: Command): Global {
  const o = cmd.optsWithGlobals();
  return { socket: o.socket ?? defaultSocketPath(), slot: o.slot, serial: o.serial };
}

/** Runs a client verb: failures as messages (exit 1, 2 for usage); standard input released after. */
function client(body: (g: Global, o: any, cmd: Command) => Promise<void>) {
  return async (...args: any[]) => {
    const cmd = args[args.length - 1] as Command;
    await guarded(() => body(global(cmd), cmd.opts(), cmd));
    (await import("./secret.js")).doneWithInput();
  };
}

/** The options of a long-running verb as the bodies read them (`--name` → value; sim.ts, agent.ts, pair.ts). */
function optionMap(cmd: Command): Options {
  const m: Options = new Map();
  for (const [key, value] of Object.entries(cmd.optsWithGlobals())) {
    if (value === undefined) continue;
    const flag = "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
    if (key === "agent" && value === false) m.set("--no-agent", true);
    else if (key !== "agent") m.set(flag, value as string | true);
  }
  return m;
}

const pinEnv = new Option("--pin-env <var>", "take the user PIN from this environment variable (default WIM_PIN)");
const soPinEnv = new Option("--so-pin-env <var>", "take the SO PIN from this environment variable (default WIM_SO_PIN)");
const newPinEnv = new Option("--new-pin-env <var>", "take the new PIN from this environment variable (default WIM_NEW_PIN)");
const json = new Option("--json", "print JSON (fields: docs/cli.md)");
const loginOption = new Option("--login", "log in with the user PIN first: private objects are listed too");

program.command("info").description("the agent's devices and tokens: serial, firmware, link, PIN retries, free store space")
  .addOption(json)
  .action(client(async (g, o) => (await infoVerbs()).info(g, !!o.json)));

const pin = program.command("pin").description("change, unblock or count the PINs");
pin.command("change").description("change the user PIN (or with --so the SO PIN)")
  .option("--so", "change the SO PIN").addOption(pinEnv).addOption(soPinEnv).addOption(newPinEnv)
  .action(client(async (g, o) => (await pinVerbs()).change(g, o)));
pin.command("unblock").description("set a new user PIN with the SO PIN (a locked PIN, or the first one after `wim reset`)")
  .addOption(soPinEnv).addOption(newPinEnv)
  .action(client(async (g, o) => (await pinVerbs()).unblock(g, o)));
pin.command("retries").description("the user and SO PIN tries left").addOption(json)
  .action(client(async (g, o) => (await infoVerbs()).retries(g, !!o.json)));

const keys = program.command("keys").description("list, generate, delete and export the token's keys");
keys.command("list").description("the keys: ID, type, size or curve, usage, label").addOption(loginOption).addOption(pinEnv).addOption(json)
  .action(client(async (g, o) => (await keyVerbs()).list(g, o)));
keys.command("generate").description("generate a key pair on the token (needs the user PIN)")
  .addOption(new Option("--type <type>", "the key type (the token's mechanisms decide which work)").choices(KEY_TYPE_NAMES).makeOptionMandatory())
  .option("--label <label>", "its label (default: the type and ID)")
  .option("--id <hex>", "its CKA_ID in hex (default: the first free one-byte ID)")
  .addOption(pinEnv)
  .action(client(async (g, o) => (await keyVerbs()).generate(g, o)));
keys.command("delete").description("delete a key pair (public and private key) by ID or label")
  .argument("<key>", "the key's ID (hex) or label").option("-y, --yes", "do not ask for confirmation").addOption(pinEnv)
  .action(client(async (g, o, cmd) => (await keyVerbs()).remove(g, cmd.args[0], o)));
keys.command("export-public").description("print a public key as PEM SubjectPublicKeyInfo")
  .argument("<key>", "the key's ID (hex) or label").option("-o, --out <file>", "write it to a file")
  .action(client(async (g, o, cmd) => (await keyVerbs()).exportPublic(g, cmd.args[0], o)));

const certs = program.command("certs").description("list, import and export the token's certificates");
certs.command("list").description("the certificates: ID, label, subject, issuer, validity").addOption(loginOption).addOption(pinEnv).addOption(json)
  .action(client(async (g, o) => (await certVerbs()).list(g, o)));
certs.command("import").description("store an X.509 certificate (PEM or DER) under its key's ID (needs the user PIN)")
  .argument("<file>", "the certificate").option("--id <hex>", "the CKA_ID (default: the key whose public key it certifies)")
  .option("--label <label>", "its label (default: the key's)").addOption(pinEnv)
  .action(client(async (g, o, cmd) => (await certVerbs()).importCert(g, cmd.args[0], o)));
certs.command("export").description("print a certificate as PEM (or DER)")
  .argument("<cert>", "the certificate's ID (hex) or label").option("-o, --out <file>", "write it to a file").option("--der", "DER instead of PEM")
  .addOption(loginOption).addOption(pinEnv)
  .action(client(async (g, o, cmd) => (await certVerbs()).exportCert(g, cmd.args[0], o)));

program.command("reset").description("erase every key and certificate and unset the user PIN (C_InitToken, needs the SO PIN)")
  .option("-y, --yes", "do not ask for the serial number as confirmation").option("--label <label>", "the token's new label (default: the current one)")
  .addOption(soPinEnv).addOption(new Option("--new-pin-env <var>", "then set the user PIN from this environment variable (else run `wim pin unblock`)"))
  .action(client(async (g, o) => (await import("./reset.js")).reset(g, o)));

program.command("attest").description("verify and show the attestation of a key generated on the token")
  .argument("<key>", "the key's ID (hex) or label").option("--ca <file>", "the CA certificate the identity certificate must be issued by")
  .option("--out <dir>", "write attestation.pem and identity.pem there").addOption(pinEnv)
  .action(client(async (g, o, cmd) => (await attestVerbs()).attest(cmd.args[0], o, g)));
program.command("provision").description("give the device an identity certificate issued by your CA (needs the SO PIN)")
  .requiredOption("--ca-cert <file>", "the CA certificate").requiredOption("--ca-key <file>", "the CA's private key").addOption(soPinEnv)
  .action(client(async (g, o) => (await attestVerbs()).provision(o, g)));

program.command("pair").description("pair this host with the device: press its BOOT button within 30 s")
  .option("--port <path>", "the device's serial port itself, without an agent")
  .action(async (_o, cmd: Command) => (await import("./pair.js")).pairing(optionMap(cmd), false));
program.command("unpair").description("remove this host from the device's paired hosts and forget the device")
  .option("--port <path>", "the device's serial port itself, without an agent")
  .action(async (_o, cmd: Command) => (await import("./pair.js")).pairing(optionMap(cmd), true));

program.command("sim").description("start a simulated device and an agent for it (prints `ready module=… socket=… pty=…`)")
  .option("--state <dir>", "the simulator's state directory (default: $XDG_STATE_HOME/wim-sim)")
  .option("--no-agent", "start no agent: only the simulator and its PTY")
  .option("--user-pin <pin>", "a new state's user PIN (a throwaway test token: default 123456)")
  .option("--so-pin <pin>", "a new state's SO PIN (default 12345678)")
  .option("--label <label>", "a new state's token label (default WIM)")
  .option("--ble", "the simulator's radio model listens on STATE/ble.sock")
  .option("--pair", "the agent pairs at start (the simulated hand presses the button)")
  .option("--link <path>", "make PATH a symbolic link to the simulator's PTY (for `wim agent`'s watch mode)")
  .option("--background", "keep running when the starting process goes away")
  .action(async (_o, cmd: Command) => (await import("./sim.js")).sim(optionMap(cmd)));

program.command("agent").description("serve PKCS#11 applications for the devices on the serial ports (watch mode), one port, or Bluetooth LE")
  .option("--device <path>", "only the device on this serial port (default: watch every serial port for WIM devices; docs/agent.md)")
  .option("--watch <globs>", "also watch these ports (GLOB[:GLOB…]; default $WIM_WATCH)")
  .option("--allow-unpaired", "in watch mode, also attach devices not paired with this host")
  .option("--ble [address]", "the device over Bluetooth LE (the first one advertising the WIM service unless ADDRESS)")
  .option("--ble-watch", "in watch mode, also every paired WIM advertising over Bluetooth LE (BlueZ; docs/ble-pc.md)")
  .option("--background", "keep running when the starting process goes away")
  .action(async (_o, cmd: Command) => (await import("./agent.js")).agent(optionMap(cmd)));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (!(e instanceof CommanderError)) throw e;
  const ok = e.code === "commander.helpDisplayed" || e.code === "commander.version";
  process.exit(ok ? EXIT.OK : EXIT.USAGE);
}
