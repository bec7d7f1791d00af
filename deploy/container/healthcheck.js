// The image's HEALTHCHECK (Dockerfile): exit 0 when this container's /readyz answers 200, else 1.
// Where it asks: OPS_PORT when set (the ops listener is always plain HTTP), otherwise PORT, over
// https when TLS_CERT_FILE is set. The server is this container's own process on loopback, so the
// certificate is not verified: the question is "does it answer ready", not "is it who it says".
// With mandatory client certificates (TLS_CLIENT_CA_FILE without TLS_CLIENT_CERT_OPTIONAL) the
// handshake needs a client certificate: set OPS_PORT (docs/deploy.md). Prints one line, no body.
import http from "node:http";
import https from "node:https";
import process from "node:process";

const env = process.env;
const opsPort = env.OPS_PORT?.trim();
const tls = !opsPort && Boolean(env.TLS_CERT_FILE?.trim());
const port = Number(opsPort || env.PORT?.trim() || 8080);
const wildcard = ["", "0.0.0.0", "::", "[::]"];
const host = wildcard.includes(env.HOST?.trim() ?? "") ? "127.0.0.1" : (env.HOST?.trim() ?? "127.0.0.1");
const url = `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}/readyz`;

const done = (code, line) => {
  process.stdout.write(`${line}\n`);
  process.exit(code);
};
const req = (tls ? https : http).get(url, { timeout: 2500, rejectUnauthorized: false }, (res) => {
  res.resume();
  done(res.statusCode === 200 ? 0 : 1, `${url} ${res.statusCode}`);
});
req.on("timeout", () => req.destroy(new Error("timed out after 2500 ms")));
req.on("error", (err) => done(1, `${url} ${err.message}`));
