/**
 * A test bundle for build/wim-sim: `entry` (a .ts under the project) bundled as one IIFE script at `outfile`.
 * `define` (optional): esbuild's identifier replacements, e.g. a test's inputs as JSON.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function buildSimBundle(entry: string, outfile: string, define?: Record<string, string>): string {
  buildSync({ entryPoints: [path.join(ROOT, entry)], bundle: true, format: "iife", target: "es2020", outfile, logLevel: "warning", define });
  return outfile;
}

/**
 * Runs `bundle` on build/wim-sim (its flash in `work`) until it prints `<tag>: done`, then stops it;
 * resolves with everything it printed (stdout and stderr). Rejects if it exits first or after `timeoutMs`.
 */
export async function runSimBundle(bundle: string, work: string, tag: string, timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(path.join(ROOT, "build/wim-sim"), ["--bundle", bundle, "--flash", path.join(work, "flash.bin")],
    { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${tag}: done": ${out}`)), timeoutMs);
    const seen = (d: Buffer) => {
      out += d;
      if (out.includes(`${tag}: done`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.once("exit", (code) => reject(new Error(`wim-sim exited with ${code}: ${out}`)));
  }).finally(() => child.kill());
  return out;
}
