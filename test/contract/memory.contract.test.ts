import { describe } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { tokenStoreContract } from "./token-store.contract.js";

describe("store contract: memory adapter", () => {
  tokenStoreContract(async () => {
    const store = createMemoryTokenStore();
    return { store, dispose: () => store.close() };
  });
});
