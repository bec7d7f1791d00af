import * as http from "node:http";

/** One answer of the forward-auth endpoint (or of anything in front of it). */
export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A plain HTTP/1.1 request (node:http): `headers` may be an array of [name, value] pairs to send a
 * header twice, which fetch cannot do.
 */
export function httpRequest(
  port: number,
  path: string,
  opts: {
    method?: string;
    headers?: Record<string, string> | [string, string][];
    body?: string;
    agent?: http.Agent | false;
  } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    // With an array, node adds no Host header of its own.
    const headers = Array.isArray(opts.headers)
      ? [["host", `127.0.0.1:${port}`], ...opts.headers].flat()
      : opts.headers;
    const req = http.request(
      { host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers, agent: opts.agent ?? false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** The `x-warpflow-*` headers of an answer (or of what an upstream received), sorted by name. */
export function warpflowHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers).sort()) {
    if (name.startsWith("x-warpflow-")) out[name] = String(headers[name]);
  }
  return out;
}

/** The WWW-Authenticate challenge of a denied /authz answer. */
export const bearerChallenge = (error: string, description: string): string =>
  `Bearer realm="warpflow", error="${error}", error_description="${description}"`;
