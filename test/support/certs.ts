import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Test certificates made on the spot with the openssl CLI: a CA, a server cert for 127.0.0.1/localhost, a client cert. */
export interface TestPki {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  ca: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  /** A client cert signed by a different CA (must be refused). */
  rogueCert: Buffer;
  rogueKey: Buffer;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "wf-pki-"));
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ca = (name: string) => {
    ssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.pem`),
    );
  };
  const leaf = (name: string, caName: string, ext: string) => {
    ssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
    );
    writeFileSync(f(`${name}.ext`), ext);
    ssl(
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f(`${caName}.pem`),
      "-CAkey",
      f(`${caName}.key`),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      f(`${name}.ext`),
      "-out",
      f(`${name}.pem`),
    );
  };
  ca("test-ca");
  ca("rogue-ca");
  leaf("server", "test-ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  leaf("client", "test-ca", "extendedKeyUsage=clientAuth\n");
  leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caFile: f("test-ca.pem"),
    serverCertFile: f("server.pem"),
    serverKeyFile: f("server.key"),
    ca: readFileSync(f("test-ca.pem")),
    clientCert: readFileSync(f("client.pem")),
    clientKey: readFileSync(f("client.key")),
    rogueCert: readFileSync(f("rogue.pem")),
    rogueKey: readFileSync(f("rogue.key")),
  };
}
