import { createServer, type Server, type Socket } from "node:net";
import { BSON, type Document } from "mongodb";

/**
 * A scripted MongoDB at the wire (no mongod can run here): a TCP server on port 0 that speaks
 * just enough of the wire protocol for the real driver: the OP_QUERY handshake (`isMaster` with
 * helloOk) answered with OP_REPLY, then OP_MSG commands answered by `handle`. Tests script each
 * command's answer (hello as a standalone or a replica-set primary, listIndexes, createIndexes,
 * errors, delays) and read what the driver sent.
 * https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
 */
export interface WireCommand {
  name: string;
  doc: Document;
  /** The client's appName from its handshake on this connection. */
  appName: string | undefined;
}

export interface MongoWireStub {
  uri: string;
  port: number;
  /** Every command received (handshakes and heartbeats included), in order. */
  commands: WireCommand[];
  /** Sets how the next commands are answered (undefined: the default answers). */
  handle: (cmd: WireCommand) => Document | Promise<Document> | undefined;
  /** Answers hello as a replica-set primary (true) or a standalone server (false). */
  replicaSet: boolean;
  /** With replicaSet: answers hello as a secondary of a set without a primary (an election). */
  secondary: boolean;
  /** Answers hello as a mongos (`msg: "isdbgrid"`), the router of a sharded cluster. */
  mongos: boolean;
  /** Drops every open connection (the driver reconnects and handshakes again). */
  dropConnections(): void;
  close(): Promise<void>;
}

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;

export async function startMongoWireStub(): Promise<MongoWireStub> {
  const sockets = new Set<Socket>();
  let requestId = 1;
  const stub: MongoWireStub = {
    uri: "",
    port: 0,
    commands: [],
    handle: () => undefined,
    replicaSet: false,
    secondary: false,
    mongos: false,
    dropConnections: () => sockets.forEach((s) => s.destroy()),
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };

  const hello = (): Document => ({
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: 1,
    minWireVersion: 0,
    maxWireVersion: 21,
    ok: 1,
    ...(stub.replicaSet
      ? { setName: "rs0", setVersion: 1, hosts: [`127.0.0.1:${stub.port}`], me: `127.0.0.1:${stub.port}` }
      : {}),
    ...(stub.replicaSet && !stub.secondary ? { primary: `127.0.0.1:${stub.port}` } : {}),
    ...(stub.replicaSet && stub.secondary ? { ismaster: false, isWritablePrimary: false, secondary: true } : {}),
    ...(stub.mongos ? { msg: "isdbgrid" } : {}),
  });

  const defaults = (cmd: WireCommand): Document => {
    switch (cmd.name) {
      case "isMaster":
      case "ismaster":
      case "hello":
        return hello();
      case "listIndexes":
        return { cursor: { id: BSON.Long.ZERO, ns: `${cmd.doc.$db}.${cmd.doc.listIndexes}`, firstBatch: [] }, ok: 1 };
      default:
        return { ok: 1 };
    }
  };

  const frame = (opCode: number, responseTo: number, body: Buffer): Buffer => {
    const header = Buffer.alloc(16);
    header.writeInt32LE(16 + body.length, 0);
    header.writeInt32LE(requestId++, 4);
    header.writeInt32LE(responseTo, 8);
    header.writeInt32LE(opCode, 12);
    return Buffer.concat([header, body]);
  };

  async function answer(socket: Socket, message: Buffer, state: { appName?: string }): Promise<void> {
    const id = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    let doc: Document;
    if (opCode === OP_QUERY) {
      const nameEnd = message.indexOf(0, 20);
      const at = nameEnd + 1 + 8;
      doc = BSON.deserialize(message.subarray(at, at + message.readInt32LE(at)));
    } else if (opCode === OP_MSG) {
      // flagBits, then section kind 0 (the command body) first; then any kind-1 sections (document
      // sequences, e.g. a bulkWrite's `updates`), folded into the body under their identifier.
      doc = BSON.deserialize(message.subarray(21, 21 + message.readInt32LE(21)));
      let at = 21 + message.readInt32LE(21);
      while (at < message.length && message.readUInt8(at) === 1) {
        const end = at + 1 + message.readInt32LE(at + 1);
        const nameEnd = message.indexOf(0, at + 5);
        const docs: Document[] = [];
        for (let d = nameEnd + 1; d < end; d += message.readInt32LE(d))
          docs.push(BSON.deserialize(message.subarray(d, d + message.readInt32LE(d))));
        doc[message.toString("utf8", at + 5, nameEnd)] = docs;
        at = end;
      }
    } else {
      socket.destroy();
      return;
    }
    if (doc.client?.application?.name) state.appName = doc.client.application.name as string;
    const cmd: WireCommand = { name: Object.keys(doc)[0]!, doc, appName: state.appName };
    stub.commands.push(cmd);
    const reply = (await stub.handle(cmd)) ?? defaults(cmd);
    if (socket.destroyed) return;
    const payload = Buffer.from(BSON.serialize(reply));
    if (opCode === OP_QUERY) {
      const body = Buffer.alloc(20);
      body.writeInt32LE(1, 16); // numberReturned (flags 0, cursorId 0, startingFrom 0)
      socket.write(frame(OP_REPLY, id, Buffer.concat([body, payload])));
    } else {
      socket.write(frame(OP_MSG, id, Buffer.concat([Buffer.alloc(5), payload]))); // flagBits 0, kind 0
    }
  }

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    const state: { appName?: string } = {};
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        void answer(socket, message, state).catch(() => socket.destroy());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  stub.port = (server.address() as { port: number }).port;
  stub.uri = `mongodb://127.0.0.1:${stub.port}/?directConnection=true&heartbeatFrequencyMS=500`;
  return stub;
}
