// tools/install-packages.mjs — the package directories `make install` copies (mk/install.sh), one per line,
// relative to the project: package.json's dependencies and, recursively, theirs (optional ones when
// installed), each found as Node finds it (node_modules of the requiring package, then of its parents).
// A native addon that was never built (binding.gyp, no build/: `npm ci --ignore-scripts`) cannot load,
// so it and what only it needs are left out (dbus-next's optional usocket and its build tools).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const root = process.cwd();
const seen = new Set();

/** The directory of package `name` as required from package directory `from`, or undefined. */
function resolve(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (existsSync(path.join(candidate, "package.json"))) return candidate;
    if (dir === root || dir === path.dirname(dir)) return undefined;
  }
}

function visit(dir) {
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];
  for (const name of names) {
    const found = resolve(name, dir);
    if (!found || seen.has(found)) continue; // an optional dependency not installed here
    if (existsSync(path.join(found, "binding.gyp")) && !existsSync(path.join(found, "build"))) continue;
    seen.add(found);
    visit(found);
  }
}

visit(root);
for (const dir of [...seen].sort()) console.log(path.relative(root, dir));
