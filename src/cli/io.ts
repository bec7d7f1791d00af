// What the CLI touches outside itself, passed in: the process's streams and environment in
// production (processIo), strings and a fake terminal in the in-process tests.
import { createInterface } from "node:readline";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The whole of standard input (read only by commands that take a token). */
  readStdin: () => Promise<string>;
  /** One line typed at the terminal after `question` (written to stderr). */
  ask: (question: string) => Promise<string>;
  /** One line typed at the terminal after `prompt`, not echoed (a secret). */
  askHidden: (prompt: string) => Promise<string>;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  now: () => Date;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    ask: (question) =>
      new Promise((resolve) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
        let answered = false;
        rl.question(question, (answer) => {
          answered = true;
          rl.close();
          resolve(answer);
        });
        rl.on("close", () => {
          if (!answered) resolve(""); // Ctrl-D / Ctrl-C: no
        });
      }),
    askHidden: (prompt) =>
      new Promise((resolve) => {
        // Raw mode: the terminal echoes nothing; we take characters up to Enter (Ctrl-C/Ctrl-D: nothing).
        const stdin = process.stdin;
        stdin.setRawMode(true);
        process.stderr.write(prompt);
        stdin.resume();
        let line = "";
        const done = (value: string) => {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off("data", onData);
          process.stderr.write("\n");
          resolve(value);
        };
        const onData = (chunk: Buffer) => {
          for (const c of chunk.toString("utf8")) {
            if (c === "\r" || c === "\n") return done(line);
            if (c === "\u0003" || c === "\u0004") return done("");
            if (c === "\u007f" || c === "\b") line = line.slice(0, -1);
            else line += c;
          }
        };
        stdin.on("data", onData);
      }),
    stdinIsTTY: process.stdin.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
    env: process.env,
    now: () => new Date(),
  };
}
