/**
 * A test bundle for build/wim-sim: `entry` (a .ts under the project) bundled as one IIFE script at `outfile`.
 * `define` (optional): esbuild's identifier replacements, e.g. a test's inputs as JSON.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function buildSimBundle(entry: string, outfile: string, define?: Record<string, string>): string {
  buildSync({ entryPoints: [path.join(ROOT, entry)], bundle: true, format: "iife", target: "es2020", outfile, logLevel: "warning", define });
  return outfile;
}
