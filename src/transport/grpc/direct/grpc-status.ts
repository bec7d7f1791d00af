// The gRPC status codes the directly served methods send (grpc/direct/), in one place. The same
// numbers as @connectrpc/connect's Code and grpc-js's status (the codes are the protocol's).
export const OK = 0;
export const DEADLINE_EXCEEDED = 4;
export const RESOURCE_EXHAUSTED = 8;
export const UNIMPLEMENTED = 12;
export const INTERNAL = 13;
