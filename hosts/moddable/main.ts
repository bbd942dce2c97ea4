/**
 * The start module of the Moddable builds (module "main" in manifest.json). Imports are evaluated in
 * order: first the globals (TextEncoder/TextDecoder, used at run time), then the firmware itself (firmware/main.ts,
 * the composition root shared with the simulator). Module names are directory paths, so the
 * firmware's relative imports resolve as they do in TypeScript and esbuild.
 */
import "hosts/moddable/globals";
import "firmware/main";
