/**
 * A serial port (or the simulator's PTY) as the agent's ByteStream. The port is put in raw mode
 * at 115200 baud with stty where it is a real UART; reads and writes go through Node's TTY handle.
 */
import { execFileSync } from "node:child_process";
import { constants, openSync } from "node:fs";
import tty from "node:tty";
import type { ByteStream } from "./link.js";

/** Opens `path` as a raw serial link. */
export function openSerial(path: string, baud = 115200): ByteStream {
  try {
    execFileSync("stty", ["-F", path, String(baud), "raw", "-echo", "-echoe", "-echok", "-ixon", "-ixoff", "-crtscts", "clocal"], { stdio: "ignore" });
  } catch {
    // not every port takes every setting (a PTY has no baud rate); raw mode is set below too
  }
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  const stream = new tty.ReadStream(fd);
  stream.setRawMode(true);
  // a port that goes away (a device unplugged, the simulator's PTY closed) fails reads with EIO: the
  // stream is then closed, which ends the link's pending command, instead of an uncaught 'error'
  stream.on("error", () => stream.destroy());
  return {
    write: (bytes) => void stream.write(bytes),
    onData: (listener) => void stream.on("data", (b: Buffer) => listener(new Uint8Array(b.buffer, b.byteOffset, b.length))),
    onClose: (listener) => void stream.on("close", listener),
    close: () => stream.destroy(),
  };
}
