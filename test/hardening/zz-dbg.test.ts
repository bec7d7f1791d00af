import { it } from "vitest";
import { H2, H2_PREFACE, h2Frame, rawExchange } from "/work/main/test/support/raw-socket.js";
import { startTestApp } from "/work/main/test/support/test-app.js";
it("dbg", async () => {
  const t = await startTestApp({ logLevel: "debug" });
  const settings = h2Frame(H2.SETTINGS, 0, 0);
  for (const hp of [[0xff]]) {
    const r = await rawExchange(t.port, [H2_PREFACE, settings, h2Frame(H2.HEADERS, 0x5, 1, Buffer.from(hp))], 25000);
    const frames = [];
    for (let i = 0; i + 9 <= r.data.length; ) { const len = r.data.readUIntBE(i, 3); frames.push([r.data.readUInt8(i + 3), len, r.data.subarray(i+9, i+9+len).toString("hex")]); i += 9 + len; }
    console.log(hp, r.closed, r.error, JSON.stringify(frames));
  }
  console.log(t.logs.slice(-5).join("\n"));
  await t.close();
});
