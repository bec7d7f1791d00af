import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { EXIT, EXIT_CODES_TEXT, exitCodeFor, exitCodeForName } from "../../src/cli/exit-codes.js";

/** The one map from a server's code to the CLI's exit code, and the text the help and README print. */
describe("CLI exit codes by class", () => {
  it("maps every gRPC/Connect code to its class", () => {
    const expected: Record<string, number> = {
      Canceled: 1,
      Unknown: 1,
      InvalidArgument: 2,
      DeadlineExceeded: 6,
      NotFound: 4,
      AlreadyExists: 5,
      PermissionDenied: 3,
      ResourceExhausted: 5,
      FailedPrecondition: 5,
      Aborted: 5,
      OutOfRange: 5,
      Unimplemented: 1,
      Internal: 1,
      Unavailable: 6,
      DataLoss: 1,
      Unauthenticated: 3,
    };
    const names = Object.keys(Code).filter((k) => Number.isNaN(Number(k)));
    expect(names.sort()).toEqual(Object.keys(expected).sort());
    for (const name of names) expect(exitCodeFor(Code[name as keyof typeof Code]), name).toBe(expected[name]);
    expect(exitCodeForName("resource_exhausted")).toBe(EXIT.conflict);
    expect(exitCodeForName("permission_denied")).toBe(EXIT.auth);
    expect(exitCodeForName("no_such_code")).toBe(EXIT.error);
    expect(new ConnectError("x", Code.NotFound).code).toBe(Code.NotFound);
  });

  it("the help's text lists each exit code once, in order", () => {
    const codes = [...EXIT_CODES_TEXT.matchAll(/^ {2}(\d) /gm)].map((m) => Number(m[1]));
    expect(codes).toEqual([...new Set(Object.values(EXIT))].sort());
  });
});
