/** The floor server's one method (see bench/floor-server.ts). */
export const FLOOR_PATH = "/bench.v1.FloorService/Noop";
export const INTROSPECT_PATH = "/warpflow.auth.v1.TokenService/Introspect";
