import { describe } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { tokenStoreContract } from "./token-store.contract.js";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { webhookStoreContract } from "./webhook-store.contract.js";

describe("store contract: memory adapter", () => {
  tokenStoreContract(async () => {
    const store = createMemoryTokenStore();
    return { store, dispose: () => store.close() };
  });
});

describe("webhook store contract: memory adapter", () => {
  webhookStoreContract(async () => {
    const tokens = createMemoryTokenStore();
    return {
      tokens,
      webhooks: createMemoryWebhookStore({ keys: () => tokens.keyRecords() }),
      dispose: () => tokens.close(),
    };
  });
});
