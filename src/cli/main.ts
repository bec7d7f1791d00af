#!/usr/bin/env node
// The `warpflow` admin CLI's process entry (package.json bin, compiled to dist/src/cli/main.js):
// the command line itself is program.ts (commands in commands/), run on this process's streams.
//   warpflow keys create --tenant acme --label "CRM Sync"        (after npm link, or from a packed tarball)
//   node dist/src/cli/main.js keys list --tenant acme            (the Docker image)
//   npm run cli -- keys list --tenant acme                       (development, from source)
import { processIo } from "./io.js";
import { runCli } from "./program.js";

process.exitCode = await runCli(process.argv.slice(2), processIo());
