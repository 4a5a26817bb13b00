// The unit's entry point: `npm start`, and what an HSU master runs. It turns
// on Node's compile cache (the V8 code of the unit, kept in the OS temp
// directory, so a unit started again does not compile it again), then runs
// the unit as `npm run build` bundled it: src/main.ts and all it imports in a
// few files under dist/unit/, which Node loads far faster than the hundreds
// of modules they come from. `node dist/src/main.js` runs it unbundled.
import module from "node:module";

try {
  // Reports a status, never throws, when the cache directory cannot be written.
  module.enableCompileCache?.();
} catch {
  // No compile cache on this Node.js: start without it.
}
const bundle: string = "../unit/main.js";
await import(bundle);
// Writes what the start compiled now, so a unit that is killed rather than
// stopped still leaves its cache behind.
module.flushCompileCache?.();
