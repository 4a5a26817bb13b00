// The cron batch job: one short run, then exit 0.
const started = new Date();
console.log(`nightly report at ${started.toISOString()}: ${Math.round(process.memoryUsage().rss / 1024)} KiB used`);
