// The client's cache key for a token: its SHA-256 as a 16-character string, each char two bytes of
// the digest (utf16le: bijective, so distinct digests are distinct keys), never the plaintext. The
// client's own key, never sent nor compared with the server's stored hashes (src/domain/token-hash.ts,
// base64url). The shortest string form of the digest is the cheapest to make and to look up: no
// encoding pass, and V8 hashes a Map key char by char (16 chars instead of base64url's 43).
// bench/tools/client-key-micro.ts; docs/performance.md, session 33.
import { hash } from "node:crypto";

// Accepted at run time (any Buffer encoding); not in @types/node's union of output encodings.
const UTF16 = "utf16le" as "hex";

export const cacheKeyOf = (token: string): string => hash("sha256", token, UTF16);
