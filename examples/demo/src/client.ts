// The demo client: calls every echo unit THROUGH the master (which starts
// each one on demand), calls each again warm, then shows `hsu ps`.
import { connectMaster } from "@hsu/client";
import { psTable } from "@hsu/master";
import { join } from "node:path";
import { EchoService } from "../../echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

// The demo's own hsu.yaml, wherever this runs from (HSU_CONTROL still wins).
const master = await connectMaster({ file: join(import.meta.dirname, "..", "hsu.yaml") });
const units = process.argv.slice(2).length ? process.argv.slice(2) : ["echo-ts", "echo-go", "echo-python", "echo-rust"];
const color = !!process.stdout.isTTY && !process.env.NO_COLOR;
let failures = 0;

for (const unit of units) {
  const echo = master.client(EchoService, unit);
  try {
    const t0 = performance.now();
    const cold = await echo.echo({ message: `hello ${unit}` }, { timeoutMs: 60_000 });
    const t1 = performance.now();
    await echo.echo({ message: "again" });
    const t2 = performance.now();
    console.log(`${unit.padEnd(12)} -> "${cold.message}" from ${cold.unitId}: cold ${(t1 - t0).toFixed(0)} ms (started on demand), warm ${(t2 - t1).toFixed(1)} ms`);
  } catch (e) {
    failures++;
    console.log(`${unit.padEnd(12)} -> failed: ${(e as Error).message}`);
  }
}
const { units: list } = await master.control.listUnits({});
console.log(`\n$ hsu ps\n${psTable(list, color)}`);
master.close();
process.exitCode = failures ? 1 : 0;
