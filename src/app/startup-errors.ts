import { ConfigError } from "../config.js";

/** Removes credentials from text that may quote a connection string (`//user:password@host`). */
export function redactCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/g, "//<credentials>@");
}

/**
 * The setting behind a failure to listen: the address (HOST) or the port (PORT, or OPS_PORT). Anything else
 * is returned unchanged.
 */
export function listenError(err: unknown, host: string, port: number, portVariable = "PORT"): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return new ConfigError("HOST", `${JSON.stringify(host)} cannot be resolved (${code})`);
    case "EADDRNOTAVAIL":
      return new ConfigError("HOST", `${JSON.stringify(host)} is not an address of this machine (${code})`);
    case "EADDRINUSE":
      return new ConfigError(portVariable, `${port} is already in use on ${host} (${code})`);
    case "EACCES":
      return new ConfigError(
        portVariable,
        `${port} needs privileges this process does not have (${code}); use a port above 1023`,
      );
    case undefined:
    default:
      // OpenSSL refusing the PEM files (not a certificate or key, key and certificate do not match).
      if (typeof code === "string" && code.startsWith("ERR_OSSL")) {
        const ca = /CA|x509|certificate/i.test((err as Error).message) ? ", TLS_CLIENT_CA_FILE" : "";
        return new ConfigError(
          `TLS_CERT_FILE/TLS_KEY_FILE${ca}`,
          `not a usable PEM certificate and private key (${code})`,
        );
      }
      return err;
  }
}

/** Reads a file a setting names; a failure names the setting, the path and the reason (never the contents). */
export function readSettingFile(setting: string, path: string, read: (path: string) => Buffer): Buffer {
  try {
    return read(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "is a directory"
            : (err as Error).message;
    throw new ConfigError(setting, `cannot read ${path}: ${why}${code ? ` (${code})` : ""}`);
  }
}
