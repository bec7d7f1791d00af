import { afterEach, beforeEach } from "vitest";
import { createMongoTokenStore, type MongoTokenStoreOptions } from "../../src/adapters/mongo/mongo-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { waitUntilServing } from "./mongo.js";
import { startMongoWireStub, type MongoWireStub } from "./mongo-wire-stub.js";

/** The wire stub of the running test, with what each test opens on it closed after it. */
export interface WireStubFixture extends MongoWireStub {
  /** A MongoDB store on the stub (database "wf", fast retries), closed after the test; resolves once it answers. */
  readyStore(over?: Partial<MongoTokenStoreOptions>): Promise<TokenStore>;
  /** Closes `c` after the test, before the stub. */
  closeAfter<T extends { close(): Promise<unknown> }>(c: T): T;
}

/**
 * The one wire-stub fixture for the MongoDB adapter tests: a fresh stub before each test (a replica
 * set when asked), closed after it together with every store and connection handed to
 * `closeAfter`. Returns the current stub; its fields (`handle`, `commands`, ...) are read and set
 * through it.
 */
export function useMongoWireStub(opts: { replicaSet?: boolean } = {}): WireStubFixture {
  let stub: MongoWireStub | undefined;
  const open: { close(): Promise<unknown> }[] = [];
  beforeEach(async () => {
    stub = await startMongoWireStub();
    if (opts.replicaSet) stub.replicaSet = true;
  });
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close().catch(() => undefined);
    await stub?.close().catch(() => undefined);
    stub = undefined;
  });
  const closeAfter = <T extends { close(): Promise<unknown> }>(c: T): T => {
    open.push(c);
    return c;
  };
  const readyStore = async (over: Partial<MongoTokenStoreOptions> = {}): Promise<TokenStore> => {
    const s = closeAfter(
      createMongoTokenStore({ uri: current().uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 }, ...over }),
    );
    await waitUntilServing(s, 5000);
    return s;
  };
  const current = (): MongoWireStub => {
    if (!stub) throw new Error("useMongoWireStub: the stub is read outside a test");
    return stub;
  };
  const extras: Record<string, unknown> = { readyStore, closeAfter };
  return new Proxy({} as WireStubFixture, {
    get(_, key) {
      if (typeof key === "string" && key in extras) return extras[key];
      if (!stub && (typeof key === "symbol" || key === "then")) return undefined;
      const value = current()[key as keyof MongoWireStub];
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(stub) : value;
    },
    set(_, key, value) {
      (current() as unknown as Record<string | symbol, unknown>)[key] = value;
      return true;
    },
  });
}
