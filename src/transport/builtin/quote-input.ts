/**
 * A client-supplied name (a reflection symbol or file name, a health service name) as it may appear
 * in an error message: quoted, every character outside printable ASCII escaped (\xNN, \u{N}: no
 * control byte, no bidi override, no line break reaches a reader), cut to about `max` characters,
 * with how many more there were. The answer is never much larger than `max`, whatever came in
 * (before: 65 KB of \x01 in a symbol came back as 455 KB, JSON-escaped).
 */
export function quoteInput(value: string, max = 64): string {
  let out = "";
  let used = 0;
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    const piece =
      ch === '"' || ch === "\\"
        ? `\\${ch}`
        : cp >= 0x20 && cp < 0x7f
          ? ch
          : cp < 0x100
            ? `\\x${cp.toString(16).padStart(2, "0")}`
            : `\\u{${cp.toString(16)}}`;
    if (out.length + piece.length > max) {
      return `"${out}"... (${value.length - used} more characters)`;
    }
    out += piece;
    used += ch.length;
  }
  return `"${out}"`;
}
