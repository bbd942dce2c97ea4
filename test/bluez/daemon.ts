/**
 * A private dbus-daemon for the test BlueZ: its own configuration (one unix socket in a fresh
 * directory, anyone on this machine's user may own any name), never the system bus.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

/** A running private bus. */
export interface PrivateBus {
  /** Its D-Bus address (give it to the agent as DBUS_SYSTEM_BUS_ADDRESS). */
  address: string;
  stop(): Promise<void>;
}

/** Starts `dbus-daemon` on a socket in a new temporary directory; resolves with its address. */
export function startBus(): Promise<PrivateBus> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-dbus-"));
  const config = path.join(dir, "bus.conf");
  writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${path.join(dir, "bus")}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`);
  const child = spawn("dbus-daemon", [`--config-file=${config}`, "--nofork", "--nopidfile", "--print-address=1"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const stop = () => new Promise<void>((done) => {
    const clean = () => (rmSync(dir, { recursive: true, force: true }), done());
    if (child.exitCode !== null || child.signalCode !== null) return clean();
    child.once("exit", clean);
    child.kill("SIGTERM");
  });
  return new Promise((resolve, reject) => {
    child.once("error", (e) => reject(new Error(`cannot start dbus-daemon (Debian package dbus-daemon): ${e.message}`)));
    child.once("exit", (code) => reject(new Error(`dbus-daemon exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout! }).once("line", (address) => resolve({ address: address.trim(), stop }));
  });
}
