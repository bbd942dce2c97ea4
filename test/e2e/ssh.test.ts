/**
 * OpenSSH against the simulated token: `ssh-keygen -D build/libwim-pkcs11.so` lists the token's
 * keys in authorized_keys form, and `ssh -I build/libwim-pkcs11.so` logs into a throwaway sshd on
 * 127.0.0.1 with each key type — RSA-2048 and ECDSA P-256, plus P-384 and Ed25519 when the token
 * (and, for Ed25519, this OpenSSH) has them — running `echo ok` non-interactively.
 *
 * The sshd: its own config, host key, authorized_keys (from ssh-keygen -D), key-only auth, UsePAM
 * no, StrictModes no, loopback and a free high port; stopped after the tests. The PIN comes from
 * an askpass script (SSH_ASKPASS + SSH_ASKPASS_REQUIRE=force + DISPLAY) that also leaves a mark,
 * so the tests can tell that ssh asked for it. ssh-agent is tested as users run it with a token:
 * `ssh-add -s` loads the keys, ssh logs in through the agent, `ssh-add -e` unloads them. Every program
 * runs under a time limit.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { EC_KEY, MODULE, cleanUp, PIN, RSA_KEY, exec, freePort, generateKeys, hasEcSize, hasEdDSA, have, mechanisms, readPublicKey, show } from "./clients.js";
import { type SimToken, startSim, tempDir } from "./harness.js";

const SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so";

/** A throwaway sshd on 127.0.0.1. */
interface Sshd {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

/** Starts `sshd -D -e -f config` and resolves once it listens; rejects after 15 s. */
function startSshd(config: string, port: number): Promise<Sshd> {
  const child: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const stop = () => new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => { clearTimeout(t); done(); });
    child.kill("SIGTERM");
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { void stop(); reject(new Error(`sshd did not start within 15 s:\n${log}`)); }, 15_000);
    child.stderr!.on("data", (d) => {
      log += d;
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(timer);
        resolve({ port, log: () => log, stop });
      }
    });
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`sshd exited with ${code}:\n${log}`)); });
  });
}

/** One key the tests log in with. */
interface SshKey {
  id: string;
  label: string;
  type: string; // pkcs11-tool --key-type
  sshType: string; // the key type in authorized_keys
  fingerprintType: string; // what sshd logs: "Accepted publickey ... ECDSA SHA256:..."
}

const KEYS: Record<string, SshKey> = {
  rsa: { ...RSA_KEY, sshType: "ssh-rsa", fingerprintType: "RSA" },
  p256: { ...EC_KEY, sshType: "ecdsa-sha2-nistp256", fingerprintType: "ECDSA" },
  p384: { id: "03", type: "EC:secp384r1", label: "ec384-key", sshType: "ecdsa-sha2-nistp384", fingerprintType: "ECDSA" },
  ed25519: { id: "04", type: "EC:edwards25519", label: "ed25519-key", sshType: "ssh-ed25519", fingerprintType: "ED25519" },
};

describe("OpenSSH (ssh-keygen -D, ssh -I) against the simulated token", function () {
  this.timeout(180_000);
  let sim: SimToken;
  let sshd: Sshd | undefined;
  let p384 = false;
  let ed25519 = false;
  /** Whether this OpenSSH takes Ed25519 keys from PKCS#11 at all (undefined: could not tell). */
  let sshEd25519: boolean | undefined;
  const work = tempDir("ssh");
  const file = (n: string) => path.join(work, n);
  const user = os.userInfo().username;
  /** ssh-keygen -D's lines, by key type. */
  const listed = new Map<string, string>();

  /**
   * Does this OpenSSH list an Ed25519 key from a PKCS#11 token? Asked of SoftHSMv2 (a second,
   * independent token), so that a "no" is about the client and not about our token.
   * (OpenSSH 9.2p1 answers "skipping unsupported key type".)
   */
  async function opensshTakesPkcs11Ed25519(): Promise<boolean | undefined> {
    if (!existsSync(SOFTHSM) || !(await have("softhsm2-util"))) return undefined;
    const dir = file("softhsm");
    mkdirSync(path.join(dir, "tokens"), { recursive: true });
    writeFileSync(path.join(dir, "softhsm2.conf"), `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
    const env = { SOFTHSM2_CONF: path.join(dir, "softhsm2.conf") };
    const init = await exec("softhsm2-util", ["--init-token", "--free", "--label", "probe", "--pin", PIN, "--so-pin", "12345678"], { env });
    if (init.code !== 0) return undefined;
    const gen = await exec("pkcs11-tool", ["--module", SOFTHSM, "--token-label", "probe", "--login", "--pin", PIN, "--keypairgen",
      "--key-type", "EC:edwards25519", "--id", "01", "--label", "probe"], { env });
    if (gen.code !== 0) return undefined;
    const d = await exec("ssh-keygen", ["-D", SOFTHSM], { env: { ...env, SSH_ASKPASS_REQUIRE: "never" }, timeoutMs: 30_000 });
    return /^ssh-ed25519 /m.test(d.stdout);
  }

  /** ssh -I with one identity; the PIN from the askpass script. */
  const sshLogin = (key: SshKey, askpass = file("askpass")) =>
    exec("ssh", [
      "-F", "/dev/null", "-T", "-p", String(sshd!.port), "-l", user,
      "-I", MODULE,
      "-o", "IdentitiesOnly=yes", "-o", `IdentityFile=${file(`${key.id}.pub`)}`,
      "-o", `UserKnownHostsFile=${file("known_hosts")}`, "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", "PreferredAuthentications=publickey", "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
      "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
      "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "LogLevel=ERROR",
      "127.0.0.1", "echo ok",
    ], {
      env: { WIM_AGENT_SOCKET: sim.socket, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0", SSH_AUTH_SOCK: undefined },
      timeoutMs: 60_000,
    });

  /** The fingerprint sshd logs for the key in `<id>.pub`. */
  async function fingerprint(key: SshKey): Promise<string> {
    const r = await exec("ssh-keygen", ["-l", "-E", "sha256", "-f", file(`${key.id}.pub`)]);
    assert.equal(r.code, 0, show(r));
    return r.stdout.split(" ")[1];
  }

  before(async function () {
    if (!(await have("ssh")) || !(await have("ssh-keygen")) || !existsSync("/usr/sbin/sshd")) this.skip(); // openssh-client, openssh-server
    sim = await startSim(tempDir("ssh-state"));
    await generateKeys(sim.socket, RSA_KEY, EC_KEY);
    const mechs = await mechanisms(sim.socket);
    p384 = hasEcSize(mechs, 384);
    ed25519 = hasEdDSA(mechs);
    if (p384) await generateKeys(sim.socket, KEYS.p384);
    if (ed25519) {
      await generateKeys(sim.socket, KEYS.ed25519);
      sshEd25519 = await opensshTakesPkcs11Ed25519();
    }

    // ssh-keygen -D: the public keys, one line each, "<type> <base64> <label>".
    const d = await exec("ssh-keygen", ["-D", MODULE], { env: { WIM_AGENT_SOCKET: sim.socket, SSH_ASKPASS_REQUIRE: "never" }, timeoutMs: 30_000 });
    assert.equal(d.code, 0, show(d));
    for (const line of d.stdout.split("\n").filter((l) => l.trim())) listed.set(line.split(" ")[0], line);
    for (const k of Object.values(KEYS)) {
      const line = listed.get(k.sshType);
      if (line) writeFileSync(file(`${k.id}.pub`), `${line}\n`);
    }

    // The sshd: host key, authorized_keys, config, askpass scripts, known_hosts.
    if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const hk = await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "wim-test-host", "-f", file("host_key")]);
    assert.equal(hk.code, 0, show(hk));
    writeFileSync(file("authorized_keys"), d.stdout);
    writeFileSync(file("askpass"), `#!/bin/sh\necho asked >> "${file("askpass.log")}"\necho ${PIN}\n`);
    writeFileSync(file("askpass-wrong"), "#!/bin/sh\necho 000000\n");
    chmodSync(file("askpass"), 0o755);
    chmodSync(file("askpass-wrong"), 0o755);
    for (let attempt = 0; !sshd; attempt++) {
      const port = await freePort();
      writeFileSync(file("sshd_config"), [
        `Port ${port}`, "ListenAddress 127.0.0.1", "AddressFamily inet",
        `HostKey ${file("host_key")}`, `PidFile ${file("sshd.pid")}`, `AuthorizedKeysFile ${file("authorized_keys")}`,
        "PubkeyAuthentication yes", "AuthenticationMethods publickey", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password", `AllowUsers ${user}`,
        "UseDNS no", "PrintMotd no", "X11Forwarding no", "AllowTcpForwarding no", "AllowAgentForwarding no", "PermitTTY no",
        "MaxAuthTries 3", "LoginGraceTime 30", "LogLevel VERBOSE", "",
      ].join("\n"));
      try {
        sshd = await startSshd(file("sshd_config"), port);
      } catch (e) {
        if (attempt >= 2) throw e; // the port was taken in between: try another one
      }
    }
    const pub = readFileSync(file("host_key.pub"), "latin1").trim().split(" ").slice(0, 2).join(" ");
    writeFileSync(file("known_hosts"), `[127.0.0.1]:${sshd.port} ${pub}\n`);
  });

  after(async () => {
    if (sshd) await sshd.stop();
    await cleanUp(sim, work);
  });

  it("ssh-keygen -D lists the RSA-2048 and ECDSA P-256 keys, equal to the token's public keys", async () => {
    for (const k of [KEYS.rsa, KEYS.p256, ...(p384 ? [KEYS.p384] : [])]) {
      const line = listed.get(k.sshType);
      assert.ok(line, `ssh-keygen -D did not list a ${k.sshType} key; it printed:\n${[...listed.values()].join("\n")}`);
      assert.match(line, new RegExp(` ${k.label}$`), "the comment is the key's label");
      // The same key as the token's public key object, converted by ssh-keygen.
      await readPublicKey(sim.socket, k.id, file(`${k.id}.der`));
      const pem = await exec("openssl", ["pkey", "-pubin", "-inform", "DER", "-in", file(`${k.id}.der`), "-out", file(`${k.id}.pem`)],
        { env: { OPENSSL_CONF: "/dev/null" } });
      assert.equal(pem.code, 0, show(pem));
      const conv = await exec("ssh-keygen", ["-i", "-m", "PKCS8", "-f", file(`${k.id}.pem`)]);
      assert.equal(conv.code, 0, show(conv));
      assert.equal(conv.stdout.trim().split(" ").slice(0, 2).join(" "), line.split(" ").slice(0, 2).join(" "));
    }
    const rsaBits = await exec("ssh-keygen", ["-l", "-f", file(`${KEYS.rsa.id}.pub`)]);
    assert.match(rsaBits.stdout, /^2048 SHA256:\S+ rsa-key \(RSA\)$/m, show(rsaBits));
  });

  it("ssh-keygen -D lists the ECDSA P-384 key when the token generates P-384", function () {
    if (!p384) this.skip(); // ECDSA-KEY-PAIR-GEN does not list 384 bits
    assert.ok(listed.has("ecdsa-sha2-nistp384"), [...listed.values()].join("\n"));
  });

  it("ssh-keygen -D lists the Ed25519 key when the token has CKM_EDDSA and OpenSSH takes PKCS#11 Ed25519 keys", function () {
    if (!ed25519) this.skip(); // no EDDSA in the token's mechanism list
    // OpenSSH 9.2p1 (Debian 12) skips every PKCS#11 Ed25519 key ("skipping unsupported key type"),
    // SoftHSMv2's as well: nothing to test with that client.
    if (sshEd25519 !== true) this.skip();
    assert.ok(listed.has("ssh-ed25519"), [...listed.values()].join("\n"));
  });

  /** Logs in with `key`, checks `ok`, the askpass mark and the fingerprint in sshd's log. */
  async function loginWith(key: SshKey) {
    rmSync(file("askpass.log"), { force: true });
    const r = await sshLogin(key);
    assert.equal(r.code, 0, `${show(r)}\n--- sshd\n${sshd!.log()}`);
    assert.equal(r.stdout, "ok\n");
    assert.ok(existsSync(file("askpass.log")), "ssh asked for the PIN through SSH_ASKPASS");
    const fp = await fingerprint(key);
    assert.match(sshd!.log(), new RegExp(`Accepted publickey for ${user} from 127\\.0\\.0\\.1 port \\d+ ssh2: ${key.fingerprintType} ${fp.replace(/[+/]/g, "\\$&")}`));
  }

  it("ssh -I logs into the sshd with the RSA-2048 key (CKM_RSA_PKCS) and runs echo ok", async () => {
    await loginWith(KEYS.rsa);
  });

  it("ssh -I logs into the sshd with the ECDSA P-256 key (CKM_ECDSA) and runs echo ok", async () => {
    await loginWith(KEYS.p256);
  });

  it("ssh -I logs into the sshd with an ECDSA P-384 key when the token generates P-384", async function () {
    if (!p384) this.skip();
    await loginWith(KEYS.p384);
  });

  it("ssh -I logs into the sshd with an Ed25519 key (CKM_EDDSA) when token and OpenSSH have it", async function () {
    if (!ed25519 || sshEd25519 !== true) this.skip(); // see the ssh-keygen -D Ed25519 test
    await loginWith(KEYS.ed25519);
  });

  it("ssh-agent: ssh-add -s loads the token's keys (PIN by askpass), ssh logs in through the agent, ssh-add -e unloads", async () => {
    const sock = file("agent.sock");
    rmSync(sock, { force: true });
    // ssh-agent runs the module in its ssh-pkcs11-helper: the helper inherits ssh-agent's environment
    // (WIM_AGENT_SOCKET), and -P allows a provider outside /usr/lib.
    const agent: ChildProcess = spawn("ssh-agent", ["-D", "-a", sock, "-P", MODULE], {
      env: { ...process.env, WIM_AGENT_SOCKET: sim.socket }, stdio: ["ignore", "ignore", "pipe"],
    });
    let agentLog = "";
    agent.stderr!.on("data", (b: Buffer) => (agentLog += b.toString("latin1")));
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(sock), `ssh-agent did not start: ${agentLog}`);
      const env = { SSH_AUTH_SOCK: sock, SSH_ASKPASS: file("askpass"), SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" };
      rmSync(file("askpass.log"), { force: true });
      const add = await exec("ssh-add", ["-s", MODULE], { env, timeoutMs: 60_000 });
      assert.equal(add.code, 0, `${show(add)}
--- ssh-agent
${agentLog}`);
      assert.match(add.stderr, /Card added/);
      assert.ok(existsSync(file("askpass.log")), "ssh-add asked for the PIN through SSH_ASKPASS");
      const list = await exec("ssh-add", ["-L"], { env });
      assert.equal(list.code, 0, show(list));
      for (const k of [KEYS.rsa, KEYS.p256]) {
        const want = listed.get(k.sshType)!.split(" ").slice(0, 2).join(" ");
        assert.ok(list.stdout.split("\n").some((l) => l.startsWith(want)), `ssh-add -L lacks the ${k.sshType} key:\n${list.stdout}`);
      }
      // a login that takes its key from the agent (no -I): the signature still comes from the token
      for (const k of [KEYS.rsa, KEYS.p256]) {
        const logStart = sshd!.log().length; // only this login's lines count
        const r = await exec("ssh", [
          "-F", "/dev/null", "-T", "-p", String(sshd!.port), "-l", user,
          "-o", "IdentitiesOnly=yes", "-o", `IdentityFile=${file(`${k.id}.pub`)}`, "-o", `IdentityAgent=${sock}`,
          "-o", `UserKnownHostsFile=${file("known_hosts")}`, "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
          "-o", "PreferredAuthentications=publickey", "-o", "PasswordAuthentication=no", "-o", "BatchMode=yes",
          "-o", "ConnectTimeout=10", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "LogLevel=ERROR",
          "127.0.0.1", "echo ok",
        ], { env: { SSH_AUTH_SOCK: sock, WIM_AGENT_SOCKET: undefined }, timeoutMs: 60_000 });
        assert.equal(r.code, 0, `${show(r)}\n--- sshd\n${sshd!.log()}\n--- ssh-agent\n${agentLog}`);
        assert.equal(r.stdout, "ok\n");
        const fp = await fingerprint(k);
        assert.match(sshd!.log().slice(logStart), new RegExp(`Accepted publickey for ${user} .* ${k.fingerprintType} ${fp.replace(/[+/]/g, "\\$&")}`));
      }
      const remove = await exec("ssh-add", ["-e", MODULE], { env });
      assert.equal(remove.code, 0, show(remove));
      const empty = await exec("ssh-add", ["-L"], { env });
      assert.notEqual(empty.code, 0);
      assert.match(empty.stdout + empty.stderr, /no identities/);
    } finally {
      agent.kill("SIGTERM");
    }
  });

  it("the login can fail: a token key missing from authorized_keys, and a wrong PIN", async () => {
    const all = readFileSync(file("authorized_keys"), "latin1");
    try {
      writeFileSync(file("authorized_keys"), `${listed.get("ssh-rsa")}\n`);
      const r = await sshLogin(KEYS.p256);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /Permission denied \(publickey\)/, show(r));
      assert.equal(r.stdout, "");
    } finally {
      writeFileSync(file("authorized_keys"), all);
    }
    const w = await sshLogin(KEYS.rsa, file("askpass-wrong"));
    assert.notEqual(w.code, 0, show(w));
    assert.match(w.stderr, /Permission denied \(publickey\)/, show(w));
    assert.equal(w.stdout, "");
    // The right PIN again (a successful login also resets the token's retry counter).
    await loginWith(KEYS.rsa);
  });
});
