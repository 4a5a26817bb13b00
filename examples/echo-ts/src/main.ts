// Starts the echo-ts unit. With no master it serves on 127.0.0.1:50051
// (`--listen ADDR` or HSU_LISTEN to change; the flag wins over the
// variable); under an HSU master it follows the unit contract: listens
// where told, registers, and stops when asked.
import { parseArgs } from "node:util";
import { serveUnit } from "@hsu/server";
import { services } from "./hsu-services.js";

// Other arguments are left to you (not strict): only --listen is the unit contract's.
const { values } = parseArgs({ options: { listen: { type: "string" } }, strict: false, allowPositionals: true });
const listen = typeof values.listen === "string" ? values.listen : undefined;

await serveUnit({
  name: "echo-ts",
  version: "0.1.0",
  services,
  // Core Reconfigure: the master rewrote $HSU_CONFIG_DIR (`config:` in
  // hsu.yaml) and asks the unit to take the files without a restart. Apply
  // event.files here; throw to refuse them (the master then restarts the
  // unit), or drop this hook to always be restarted.
  onReconfigure: (event) => {
    for (const file of event.files) console.error(`config ${file.name} sha256 ${file.sha256}`);
  },
  // A command-line flag beats the environment, and a socket the master passed (docs/unit-contract.md).
  env: listen === undefined ? process.env : { ...process.env, HSU_LISTEN: listen, HSU_LISTEN_FD: "", LISTEN_PID: "" },
});
