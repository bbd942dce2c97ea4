/** A test bundle for build/wim-sim: `entry` (a .ts under the project) bundled as one IIFE script at `outfile`. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function buildSimBundle(entry: string, outfile: string): string {
  buildSync({ entryPoints: [path.join(ROOT, entry)], bundle: true, format: "iife", target: "es2020", outfile, logLevel: "warning" });
  return outfile;
}
