// Tables and times for people: columns aligned to the widest cell (by code points, colour codes not
// counted), times relative to now ("2 min ago", "in 71 h"). JSON output keeps absolute ISO times.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const ANSI = /\x1b\[[0-9;]*m/g; // eslint-disable-line no-control-regex
const width = (cell: string) => [...cell.replace(ANSI, "")].length;

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - width(c))))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** "just now", "40 s ago", "2 min ago", "5 h ago", "3 d ago"; "in 59 min", "in 71 h" (whole units, rounded down). */
export function relativeTime(when: Date, now: Date): string {
  const ms = when.getTime() - now.getTime();
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 5) return "just now";
  const amount =
    s < 60
      ? `${s} s`
      : s < 3600
        ? `${Math.floor(s / 60)} min`
        : s < 96 * 3600
          ? `${Math.floor(s / 3600)} h`
          : `${Math.floor(s / 86400)} d`;
  return ms < 0 ? `${amount} ago` : `in ${amount}`;
}

export const relative = (t: Timestamp | undefined, now: Date): string =>
  t ? relativeTime(timestampDate(t), now) : "-";

export interface Paint {
  green: (s: string) => string;
  yellow: (s: string) => string;
  red: (s: string) => string;
  dim: (s: string) => string;
  bold: (s: string) => string;
}

const sgr = (on: number, off: number) => (s: string) => `\x1b[${on}m${s}\x1b[${off}m`;
const plain = (s: string) => s;

/** Colour only on a terminal, and never when NO_COLOR is set (to anything but the empty string, per no-color.org). */
export function createPaint(enabled: boolean): Paint {
  return enabled
    ? { green: sgr(32, 39), yellow: sgr(33, 39), red: sgr(31, 39), dim: sgr(2, 22), bold: sgr(1, 22) }
    : { green: plain, yellow: plain, red: plain, dim: plain, bold: plain };
}
