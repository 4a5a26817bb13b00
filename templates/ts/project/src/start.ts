// The unit's entry point: `npm start`, and what an HSU master runs. It runs
// the unit as `npm run build` bundled it: src/main.ts and all it imports in a
// few files under dist/unit/, which Node loads far faster than the hundreds
// of modules they come from. `node dist/src/main.js` runs it unbundled.
// (Node's compile cache is not turned on: measured, it did not shorten the
// start of the bundle, and its default directory is shared by every user.)
const bundle: string = "../unit/main.js";
await import(bundle);
