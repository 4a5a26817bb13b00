// A master that starts the echo unit, prints its pid, and then waits to be
// killed: the test SIGKILLs it and watches the unit go by itself.
import { createRegistrar, launchUnit } from "@hsu/client";
import { fileURLToPath } from "node:url";

const registrar = await createRegistrar();
const unit = await launchUnit({
  id: "orphan-check",
  command: process.execPath,
  args: ["--conditions=@hsu/source", fileURLToPath(new URL("../unit.ts", import.meta.url))],
  registrar,
  stdio: "ignore",
});
process.stdout.write(`${unit.pid}\n`);
setInterval(() => {}, 60_000);
