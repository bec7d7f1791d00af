// Whether this runtime's HTTP/2 server keeps a header value padded with whitespace (Node's
// `strictFieldWhitespaceValidation` option, 22.17+ and 24.2+; src/transport/grpc/grpc-injector.ts
// sets it). Before, nghttp2 drops such a header before the service sees it: the tests that send
// one are skipped there, and say why.
export function paddedHeadersKept(test: string, version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const kept = major > 24 || (major === 24 && minor >= 2) || (major === 22 && minor >= 17); // not 23: it never had it
  if (!kept)
    console.log(
      `[${test}] skipped on Node ${version}: its HTTP/2 layer drops a padded header value before the service sees it (no strictFieldWhitespaceValidation option before Node 22.17 / 24.2); docs/edge-auth.md`,
    );
  return kept;
}
