// The CLI's exit codes by class, and the one map from a server's gRPC/Connect code to them. The help
// (`warpflow --help`) and the README print EXIT_CODES_TEXT, so the three never disagree.
import { Code } from "@connectrpc/connect";

export const EXIT = {
  ok: 0,
  /** An unexpected failure (a server's internal or unknown error), or a question answered "no". */
  error: 1,
  /** Bad command, flag or value (also the server's invalid_argument); a destructive command without a terminal or --yes. */
  usage: 2,
  /** Not authenticated, or not allowed (unauthenticated, permission_denied). */
  auth: 3,
  notFound: 4,
  /** A limit or a conflict: resource_exhausted, already_exists, failed_precondition, aborted, out_of_range. */
  conflict: 5,
  /** The server could not be reached or did not answer in time (unavailable, deadline_exceeded). */
  unavailable: 6,
  /** `introspect`: the token is not active (the reason is printed). */
  inactive: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const BY_CODE: Partial<Record<Code, ExitCode>> = {
  [Code.InvalidArgument]: EXIT.usage,
  [Code.Unauthenticated]: EXIT.auth,
  [Code.PermissionDenied]: EXIT.auth,
  [Code.NotFound]: EXIT.notFound,
  [Code.ResourceExhausted]: EXIT.conflict,
  [Code.AlreadyExists]: EXIT.conflict,
  [Code.FailedPrecondition]: EXIT.conflict,
  [Code.Aborted]: EXIT.conflict,
  [Code.OutOfRange]: EXIT.conflict,
  [Code.Unavailable]: EXIT.unavailable,
  [Code.DeadlineExceeded]: EXIT.unavailable,
};

/** The exit code for a failed call with this gRPC/Connect code (anything unlisted: 1). */
export const exitCodeFor = (code: Code): ExitCode => BY_CODE[code] ?? EXIT.error;

/** The same for a code by its name ("resource_exhausted"): a DomainError of the --direct commands. */
export const exitCodeForName = (name: string): ExitCode => {
  const key = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()).replace(/^[a-z]/, (c) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code | undefined>)[key];
  return code === undefined ? EXIT.error : exitCodeFor(code);
};

export const EXIT_CODES_TEXT = `Exit codes:
  0  done
  1  unexpected error (server internal/unknown), or "no" at a confirmation
  2  usage: unknown command or flag, bad or missing value (also the server's invalid_argument);
     a destructive command without a terminal to confirm on and without --yes
  3  not authenticated or not allowed (unauthenticated, permission_denied)
  4  not found (not_found)
  5  limit or conflict (resource_exhausted, already_exists, failed_precondition, aborted)
  6  server unavailable or too slow (unavailable, deadline_exceeded; the address tried is named)
  7  introspect: the token is not active (the reason is printed)`;

/** An error the CLI itself detected: printed as is (never with a value the user typed), with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
    /** The error's name in JSON output. */
    readonly code: string = exitCode === EXIT.usage ? "usage" : "error",
  ) {
    super(message);
  }
}
