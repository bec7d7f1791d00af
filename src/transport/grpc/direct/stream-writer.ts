// A server-streaming call's output on a directly served stream (direct-call.ts), as grpc-js 1.14
// sends it: the response headers once (before the first message, or with the status), each
// message framed (response-writer.ts), then the status as trailers. `write` returns false when
// the HTTP/2 stream's buffer is full (the client's flow-control window is shut): wait for
// `onDrain` before writing more, as with any Writable.
import type * as http2 from "node:http2";
import type { DirectCall } from "./direct-call.js";
import { framed, gone, sendHeaders } from "./response-writer.js";

export interface StreamWriter {
  /** Sends the response headers now (with custom metadata), if not sent yet. */
  sendHeaders(extra?: http2.OutgoingHttpHeaders): void;
  /** Writes one message (`bytes` unframed, or `frame` already framed). False: wait for drain. */
  write(bytes: Uint8Array): boolean;
  writeFrame(frame: Buffer): boolean;
  /** Calls `fn` once when the stream can take more (or the call ended: check `call.done`). */
  onDrain(fn: () => void): void;
  /** Ends the call with this status (trailers after the messages; trailers-only if none went out). */
  end(code: number, details: string): void;
}

export function createStreamWriter(call: DirectCall): StreamWriter {
  const stream = call.stream;
  const writer: StreamWriter = {
    sendHeaders(extra) {
      if (call.headersSent || call.done || gone(stream)) return;
      call.headersSent = true;
      sendHeaders(stream, extra);
    },
    write(bytes) {
      return writer.writeFrame(framed(bytes));
    },
    writeFrame(frame) {
      if (call.done || gone(stream)) return false;
      writer.sendHeaders();
      return stream.write(frame);
    },
    onDrain(fn) {
      if (call.done || gone(stream)) return void process.nextTick(fn);
      const done = () => {
        stream.off("drain", done);
        stream.off("close", done);
        fn();
      };
      stream.on("drain", done);
      stream.on("close", done);
    },
    end(code, details) {
      call.sendStatus(code, details);
    },
  };
  return writer;
}
