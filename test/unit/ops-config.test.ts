import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

describe("OPS_PORT and LOG_FORMAT", () => {
  it("OPS_PORT: unset is off; a port, or 0 (ephemeral); never PORT's", () => {
    expect(loadConfig({}).opsPort).toBeUndefined();
    expect(loadConfig({ OPS_PORT: "" }).opsPort).toBeUndefined();
    expect(loadConfig({ OPS_PORT: "9090" }).opsPort).toBe(9090);
    expect(loadConfig({ OPS_PORT: "0", PORT: "0" }).opsPort).toBe(0);
    expect(() => loadConfig({ OPS_PORT: "8080" })).toThrow(/^OPS_PORT: must differ from PORT \(8080\)$/);
    expect(() => loadConfig({ OPS_PORT: "9090", PORT: "9090" })).toThrow(/^OPS_PORT: /);
    expect(() => loadConfig({ OPS_PORT: "70000" })).toThrow(/^OPS_PORT: must be a whole number from 0 to 65535$/);
    expect(() => loadConfig({ OPS_PORT: "x" })).toThrow(/^OPS_PORT: must be a whole number/);
  });

  it("LOG_FORMAT: json by default; json-iso or pretty when asked; anything else names the variable", () => {
    expect(loadConfig({}).logFormat).toBe("json");
    expect(loadConfig({ LOG_FORMAT: "json-iso" }).logFormat).toBe("json-iso");
    expect(loadConfig({ LOG_FORMAT: "pretty" }).logFormat).toBe("pretty");
    expect(() => loadConfig({ LOG_FORMAT: "yaml" })).toThrow(/^LOG_FORMAT: must be one of json, json-iso, pretty$/);
  });
});
