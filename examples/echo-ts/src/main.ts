// Starts the echo-ts unit. With no master it serves on 127.0.0.1:50051
// (set HSU_LISTEN to change); under an HSU master it follows the unit
// contract: listens where told, registers, and stops when asked.
import { serveUnit } from "@hsu/server";
import { services } from "./hsu-services.js";

await serveUnit({
  name: "echo-ts",
  version: "0.1.0",
  services,
});
