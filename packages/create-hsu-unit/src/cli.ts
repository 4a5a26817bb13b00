#!/usr/bin/env node
// The `create-hsu-unit` executable (also `npm create hsu-unit`).
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
