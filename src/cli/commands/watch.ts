// `warpflow watch`: prints WatchInvalidations as they arrive (docs/watch-protocol.md), one line each
// (--output json: one JSON object per line), until the server ends the stream or Ctrl-C.
import type { CommandKit } from "../program.js";
import type { Command } from "commander";
import { runWatch } from "../watch-command.js";

export function registerWatch(program: Command, { leaf, run }: CommandKit): void {
  const cmd = leaf(program, "watch", {
    summary:
      "print cache invalidations as they arrive (WatchInvalidations; Ctrl-C stops; WARPFLOW_CALLER_TOKEN if the server sets INTROSPECT_CALLER_TOKEN)",
    examples: ["warpflow watch", "warpflow watch --output json --heartbeats"],
    server: true,
  }).option("--heartbeats", "print every heartbeat (default: only when `complete` changes)");
  run<{ heartbeats?: boolean }>(cmd, async (ctx, o) => {
    await runWatch({
      client: ctx.api(),
      json: ctx.json,
      heartbeats: o.heartbeats === true,
      callerToken: ctx.io.env.WARPFLOW_CALLER_TOKEN,
      print: (line) => ctx.io.stdout(`${line}\n`),
    });
  });
}
