// Text that reaches a terminal or a log (identity strings from a JWT, labels, user agents, anything
// the CLI prints from the server) must not carry characters that forge, hide or disguise what an
// admin reads: control (Cc: ESC[2J, CR LF), format (Cf: bidi overrides and isolates such as U+202E,
// zero-width characters, soft hyphen, tag characters), line/paragraph separators, private-use and
// lone surrogates, and the Hangul fillers that render as nothing.
const UNPRINTABLE_CLASS = "[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Co}\\p{Cs}\\u115f\\u1160\\u3164\\uffa0]";
const UNPRINTABLE = new RegExp(UNPRINTABLE_CLASS, "gu");
const UNPRINTABLE_TEST = new RegExp(UNPRINTABLE_CLASS, "u");

export const hasUnprintable = (text: string): boolean => UNPRINTABLE_TEST.test(text);

/** Each such character as a visible escape: ESC -> "\x1b", LF -> "\x0a", U+202E -> "\u202e", U+E0041 -> "\u{e0041}". */
export function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.codePointAt(0)!;
    if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Same, keeping line breaks: for whole blocks of CLI output whose fields were escaped already. */
export function escapeUnprintableKeepLines(text: string): string {
  return text.split("\n").map(escapeUnprintable).join("\n");
}
