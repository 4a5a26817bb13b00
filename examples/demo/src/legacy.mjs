// A "legacy" daemon the master did not start: it writes its pid file and
// serves HTTP; hsu attaches to it by that pid file.
import { createServer } from "node:http";
import { writeFileSync, rmSync } from "node:fs";

const pidFile = process.argv[2];
const server = createServer((_req, res) => res.end("legacy ok\n"));
server.listen(0, "127.0.0.1", () => {
  writeFileSync(pidFile, `${process.pid}\n`);
  console.log(`legacy daemon pid ${process.pid} on port ${server.address().port}`);
});
const stop = () => {
  rmSync(pidFile, { force: true });
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
