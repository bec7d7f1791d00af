// Length-prefixed gRPC messages out of a request's DATA chunks, as grpc-js 1.14's StreamDecoder
// and decompressMessage (server-interceptors.js) read them, with the same limits and texts:
// - a message whose declared length is over the maximum (grpc.max_receive_message_length =
//   MAX_BODY_BYTES) is refused as soon as its 5-byte prefix is in: RESOURCE_EXHAUSTED
//   "Received message larger than max (<n> vs <max>)", and none of its body is kept;
// - the compressed flag is the prefix's first byte == 1 (any other value is read as uncompressed);
//   a flagged message is decompressed with the request's grpc-encoding: "identity" (no header:
//   the bytes as they are), "gzip" or "deflate" (at most <max> bytes of output, then
//   RESOURCE_EXHAUSTED "Received message that decompresses to a size larger than <max>": a zip
//   bomb stops there, never inflated further), anything else UNIMPLEMENTED
//   `Received message compressed with unsupported encoding "<encoding>"`; a stream that does not
//   inflate: INTERNAL "Failed to decompress message".
// A frame cut off by the end of the request is no message (grpc-js drops it the same way).
// `maxMessages`: messages past it are framed, size-checked and dropped, never decoded (a
// one-message call, direct-call.ts, ends at its second message at the latest: 2). grpc-js pauses
// the stream after each chunk's messages; without a bound one 1 MB request of 10,000 gzip
// messages started 5,190 inflations at once (RSS +566 MiB, test/hardening/direct-compression.test.ts).
import * as zlib from "node:zlib";

import { INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED } from "./grpc-status.js";

/** Re-exported for the methods that import them from here (grpc-status.ts is the one place). */
export { INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED };
/** Pieces of one message kept as they came; past this, they are copied into one buffer. */
const MAX_PARTS = 64;

/** What the reader reports: a complete message (its decompressed bytes), or a status. */
export interface MessageSink {
  /** Message number `index` (0-based) is complete and decompressed. Called in order of arrival. */
  message(index: number, bytes: Buffer): void;
  /** A message was refused: the call ends with this status. */
  refuse(code: number, details: string): void;
}

/** Decompresses `body` with `encoding` (gzip or deflate), with at most `max` bytes of output. */
function inflate(
  body: Buffer,
  encoding: "gzip" | "deflate",
  max: number,
  done: (err: Error | null, out?: Buffer) => void,
): void {
  const opts = { maxOutputLength: max };
  if (encoding === "gzip") zlib.gunzip(body, opts, done);
  else zlib.inflate(body, opts, done);
}

/**
 * One request's framing state. Messages complete in order; a compressed one is inflated
 * asynchronously, and a later message waits for it (as grpc-js's read queue does).
 */
export class MessageReader {
  private flag = 0;
  private size = 0;
  /** Bytes of the current frame read so far: -1 none; 0..4 prefix; 5.. body. */
  private prefix: Buffer | undefined;
  private prefixHave = 0;
  private parts: Buffer[] | undefined;
  /** Once a message came in MAX_PARTS pieces: its bytes so far (`have` of them; copied here from then on). */
  private whole: Buffer | undefined;
  private have = 0;
  private reading = false;
  private count = 0;
  /** Completed messages not yet reported (waiting behind one being inflated). */
  private queue: (Buffer | undefined)[] | undefined;
  private inflating = 0;
  /** Messages reported to the sink so far (in order). */
  private reported = 0;
  stopped = false;

  constructor(
    private readonly max: number,
    private readonly encoding: string,
    private readonly sink: MessageSink,
    /** Messages ever decoded (inflated and reported); later ones are dropped. */
    private readonly maxMessages = Number.POSITIVE_INFINITY,
  ) {}

  /** True while a completed message is not reported yet (one before it, or itself, still inflating). */
  get busy(): boolean {
    return this.inflating > 0 || this.reported < this.count;
  }

  write(chunk: Buffer): void {
    let at = 0;
    const n = chunk.length;
    // The usual request: one whole frame in one chunk.
    if (!this.reading && n >= 5 && n === 5 + chunk.readUInt32BE(1) && this.prefixHave === 0) {
      this.flag = chunk[0]!;
      this.size = n - 5;
      if (this.size > this.max) return this.tooLarge();
      return this.complete(chunk.subarray(5));
    }
    // grpc-js's decoder returns a chunk's messages together, or throws for a too-large one: the
    // messages before it in the same chunk are then never read. Same here: reported after the chunk.
    let done: [number, Buffer][] | undefined;
    while (at < n) {
      if (!this.reading) {
        // The prefix, possibly split over chunks.
        const take = Math.min(5 - this.prefixHave, n - at);
        if (this.prefixHave === 0 && take === 5) {
          this.flag = chunk[at]!;
          this.size = chunk.readUInt32BE(at + 1);
        } else {
          this.prefix ??= Buffer.alloc(5);
          chunk.copy(this.prefix, this.prefixHave, at, at + take);
          this.prefixHave += take;
          if (this.prefixHave < 5) break;
          this.flag = this.prefix[0]!;
          this.size = this.prefix.readUInt32BE(1);
        }
        at += take;
        this.prefixHave = 0;
        if (this.size > this.max) return this.tooLarge();
        if (this.size === 0) {
          (done ??= []).push([this.flag, Buffer.alloc(0)]);
          continue;
        }
        this.reading = true;
        this.parts = [];
        this.have = 0;
      }
      const take = Math.min(this.size - this.have, n - at);
      if (this.whole !== undefined) this.append(chunk, at, take);
      else if (this.parts!.push(chunk.subarray(at, at + take)) === MAX_PARTS) {
        // Many small DATA frames: one growing buffer from here on, not a Buffer per frame (1-byte
        // frames held ~8 MiB per 64 KB message; grpc-js's decoder does the same). It doubles, up
        // to the declared size: never more than twice what came (a declared size is only a claim).
        this.whole = Buffer.concat(this.parts!, Math.min(this.size, Math.max(4096, 2 * (this.have + take))));
        this.parts = [];
      }
      this.have += take;
      at += take;
      if (this.have === this.size) {
        const body =
          this.whole?.subarray(0, this.size) ??
          (this.parts!.length === 1 ? this.parts![0]! : Buffer.concat(this.parts!, this.size));
        this.reading = false;
        this.parts = undefined;
        this.whole = undefined;
        (done ??= []).push([this.flag, body]);
      }
    }
    if (done === undefined) return;
    for (const [flag, body] of done) {
      if (this.stopped) return;
      this.flag = flag;
      this.complete(body);
    }
  }

  /** Copies `take` bytes of `chunk` from `at` into `whole` (doubled, up to the declared size, when full). */
  private append(chunk: Buffer, at: number, take: number): void {
    if (this.have + take > this.whole!.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.size, Math.max(2 * this.whole!.length, this.have + take)));
      this.whole!.copy(grown, 0, 0, this.have);
      this.whole = grown;
    }
    chunk.copy(this.whole!, this.have, at, at + take);
  }

  private tooLarge(): void {
    this.stop();
    this.sink.refuse(RESOURCE_EXHAUSTED, `Received message larger than max (${this.size} vs ${this.max})`);
  }

  stop(): void {
    this.stopped = true;
    this.parts = undefined;
    this.whole = undefined;
    this.queue = undefined;
  }

  private complete(body: Buffer): void {
    if (this.count >= this.maxMessages) return;
    const index = this.count++;
    if (this.flag !== 1 || this.encoding === "identity") return this.ready(index, body);
    if (this.encoding !== "gzip" && this.encoding !== "deflate") {
      this.stop();
      return this.sink.refuse(
        UNIMPLEMENTED,
        `Received message compressed with unsupported encoding "${this.encoding}"`,
      );
    }
    this.inflating++;
    (this.queue ??= [])[index] = undefined;
    inflate(body, this.encoding, this.max, (err, out) => {
      this.inflating--;
      if (this.stopped) return;
      if (err) {
        this.stop();
        const tooBig = (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
        return this.sink.refuse(
          tooBig ? RESOURCE_EXHAUSTED : INTERNAL,
          tooBig
            ? `Received message that decompresses to a size larger than ${this.max}`
            : "Failed to decompress message",
        );
      }
      this.queue![index] = out!;
      this.flush();
    });
  }

  private ready(index: number, bytes: Buffer): void {
    if (this.queue === undefined) {
      this.reported = index + 1;
      return this.sink.message(index, bytes);
    }
    this.queue[index] = bytes;
    this.flush();
  }

  /** Reports, in order, every completed message not waiting behind one still inflating. */
  private flush(): void {
    while (!this.stopped && this.queue !== undefined && this.reported < this.count) {
      const bytes = this.queue[this.reported];
      if (bytes === undefined) return;
      this.queue[this.reported] = undefined;
      this.sink.message(this.reported++, bytes);
    }
    if (this.inflating === 0 && !this.stopped) this.queue = undefined;
  }
}
