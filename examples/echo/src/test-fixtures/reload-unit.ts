// A test unit for Core Reconfigure: it loads $HSU_CONFIG_DIR/app.conf at
// start, and an Echo of "loaded" answers what it has loaded (from memory, not
// the file). RELOAD=1 gives it a reload hook that takes the new files;
// RELOAD=refuse one that refuses them; without RELOAD it has no hook
// (Reconfigure answers UNIMPLEMENTED).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { serveUnit, unitService, type ReconfigureHandler } from "@hsu/server";
import { EchoService } from "../gen/hsu/examples/echo/v1/echo_pb.js";

const unitId = process.env.HSU_UNIT_ID ?? "reload";
const dir = process.env.HSU_CONFIG_DIR ?? "";
let loaded = dir ? readFileSync(join(dir, "app.conf"), "utf8") : "";

const hooks: Record<string, ReconfigureHandler> = {
  "1": (event) => {
    const file = event.files.find((f) => f.name === "app.conf");
    if (!file) throw new Error("app.conf is missing");
    loaded = file.content.toString("utf8");
    console.log(`reloaded generation ${event.generation} (changed: ${event.changedFiles.join(",")})`);
  },
  refuse: () => {
    throw new Error("this unit refuses every new config");
  },
};
const hook = hooks[process.env.RELOAD ?? ""];

await serveUnit({
  name: "reload",
  services: [unitService(EchoService, { echo: (req) => ({ message: req.message === "loaded" ? loaded : req.message, unitId }) })],
  ...(hook ? { onReconfigure: hook } : {}),
});
