// A worker-pool replica: takes "jobs" and reports them; HSU_INDEX tells it
// which replica it is.
const index = Number(process.env.HSU_INDEX ?? 0);
let done = 0;
console.log(`worker ${index} ready (pid ${process.pid})`);
const timer = setInterval(() => {
  done++;
  console.log(`worker ${index} finished job ${done}`);
}, 2000 + index * 500);
process.on("SIGTERM", () => {
  clearInterval(timer);
  console.log(`worker ${index} stopping after ${done} jobs`);
  process.exit(0);
});
