// Text that reaches a terminal or a log (identity strings from a JWT, labels, user agents, anything
// the CLI prints from the server) must not carry control characters or bidi overrides: ESC[2J,
// CR LF or U+202E would let the text forge or hide lines an admin reads.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/gu;
// eslint-disable-next-line no-control-regex
const UNPRINTABLE_TEST = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/u;

export const hasUnprintable = (text: string): boolean => UNPRINTABLE_TEST.test(text);

/** Each control or bidi character as a visible escape: ESC -> "\x1b", LF -> "\x0a", U+202E -> "\u202e". */
export function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Same, keeping line breaks: for whole blocks of CLI output whose fields were escaped already. */
export function escapeUnprintableKeepLines(text: string): string {
  return text.split("\n").map(escapeUnprintable).join("\n");
}
