// Every command of `warpflow`, in the order of its help. A new command is a module exporting a
// RegisterCommands function (see program.ts), added to this list: e.g. registerWatch for `warpflow watch`.
import type { RegisterCommands } from "../program.js";
import { registerAdminKey } from "./admin-key.js";
import { registerAudit } from "./audit.js";
import { registerCompletion } from "./completion.js";
import { registerIntrospect } from "./introspect.js";
import { registerKeys } from "./keys.js";
import { registerPolicy } from "./policy.js";
import { registerSessions } from "./sessions.js";
import { registerWatch } from "./watch.js";
import { registerWebhooks } from "./webhooks.js";

export const COMMANDS: readonly RegisterCommands[] = [
  registerKeys,
  registerSessions,
  registerPolicy,
  registerAudit,
  registerWebhooks,
  registerAdminKey,
  registerIntrospect,
  registerWatch,
  registerCompletion,
];
