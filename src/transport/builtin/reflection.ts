import {
  create,
  fromBinary,
  toBinary,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { quoteInput } from "./quote-input.js";
import { served, type ServedService } from "../protocol/served-service.js";

type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;

/**
 * gRPC server reflection v1 and v1alpha answered straight from the protobuf-es descriptors compiled
 * into src/gen: every FileDescriptorProto served is a file's own `proto` (dependency list intact),
 * so what a client links is exactly what this server was built from. File answers carry the file
 * and its transitive dependencies, requested file first. Unknown names answer an error_response
 * with NOT_FOUND, as reflection.proto specifies (the name quoted short and escaped: quote-input.ts);
 * the stream stays open. Request messages are small (builtin-services.ts caps them at 4 KiB), and
 * the transports answer one request at a time, so the echoed original_request stays small too.
 */
export function createReflectionServices(files: DescFile[], serviceNames: string[]): ServedService[] {
  const index = indexFiles([
    ...files,
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  const services = [...serviceNames, v1.ServerReflection.typeName, v1alpha.ServerReflection.typeName];
  const answer = (req: Request): Response =>
    create(v1.ServerReflectionResponseSchema, {
      validHost: req.host,
      originalRequest: req,
      messageResponse: respond(index, services, req),
    });
  const v1Service = served(v1.ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const req of reqs) yield answer(req);
    },
  });
  // v1alpha's messages are v1's, field for field: translate through the wire format.
  const v1alphaService = served(v1alpha.ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const req of reqs) {
        const res = answer(
          fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, req)),
        );
        yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, res));
      }
    },
  });
  return [v1Service, v1alphaService];
}

interface Index {
  /** Every file of the transitive closure by name, with its serialized descriptor. */
  files: Map<string, { file: DescFile; bytes: Uint8Array }>;
  /** Fully-qualified symbol -> the file declaring it. */
  symbols: Map<string, DescFile>;
  /** "extendee:number" -> the file declaring the extension. */
  extensions: Map<string, DescFile>;
  messages: Set<string>;
}

function indexFiles(roots: DescFile[]): Index {
  const index: Index = { files: new Map(), symbols: new Map(), extensions: new Map(), messages: new Set() };
  const addExtension = (ext: DescExtension, file: DescFile) => {
    index.symbols.set(ext.typeName, file);
    index.extensions.set(`${ext.extendee.typeName}:${ext.number}`, file);
  };
  const addEnum = (e: DescEnum, file: DescFile) => {
    index.symbols.set(e.typeName, file);
    const scope = e.typeName.slice(0, e.typeName.length - e.name.length); // enum values live beside the enum
    for (const v of e.values) index.symbols.set(scope + v.name, file);
  };
  const addMessage = (m: DescMessage, file: DescFile) => {
    index.symbols.set(m.typeName, file);
    index.messages.add(m.typeName);
    for (const f of m.fields) index.symbols.set(`${m.typeName}.${f.name}`, file);
    for (const o of m.oneofs) index.symbols.set(`${m.typeName}.${o.name}`, file);
    m.nestedMessages.forEach((n) => addMessage(n, file));
    m.nestedEnums.forEach((n) => addEnum(n, file));
    m.nestedExtensions.forEach((n) => addExtension(n, file));
  };
  const visit = (file: DescFile) => {
    if (index.files.has(file.proto.name)) return;
    index.files.set(file.proto.name, { file, bytes: toBinary(FileDescriptorProtoSchema, file.proto) });
    file.dependencies.forEach(visit);
    for (const s of file.services) {
      index.symbols.set(s.typeName, file);
      for (const m of s.methods) index.symbols.set(`${s.typeName}.${m.name}`, file);
    }
    file.messages.forEach((m) => addMessage(m, file));
    file.enums.forEach((e) => addEnum(e, file));
    file.extensions.forEach((e) => addExtension(e, file));
  };
  roots.forEach(visit);
  return index;
}

/** The file and everything it imports, transitively, the file first. */
function withDependencies(index: Index, file: DescFile): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const walk = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(index.files.get(f.proto.name)!.bytes);
    f.dependencies.forEach(walk);
  };
  walk(file);
  return out;
}

function respond(index: Index, services: string[], req: Request): Response["messageResponse"] {
  const files = (file: DescFile | undefined, what: string): Response["messageResponse"] =>
    file
      ? {
          case: "fileDescriptorResponse",
          value: create(v1.FileDescriptorResponseSchema, { fileDescriptorProto: withDependencies(index, file) }),
        }
      : notFound(what);
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: create(v1.ListServiceResponseSchema, { service: services.map((name) => ({ name })) }),
      };
    case "fileByFilename":
      return files(index.files.get(r.value)?.file, `file ${quoteInput(r.value)}`);
    case "fileContainingSymbol":
      return files(index.symbols.get(r.value), `symbol ${quoteInput(r.value)}`);
    case "fileContainingExtension":
      return files(
        index.extensions.get(`${r.value.containingType}:${r.value.extensionNumber}`),
        `extension ${r.value.extensionNumber} of ${quoteInput(r.value.containingType)}`,
      );
    case "allExtensionNumbersOfType": {
      if (!index.messages.has(r.value)) return notFound(`type ${quoteInput(r.value)}`);
      const numbers = [...index.extensions.keys()]
        .filter((k) => k.startsWith(r.value + ":"))
        .map((k) => Number(k.split(":")[1]));
      return {
        case: "allExtensionNumbersResponse",
        value: create(v1.ExtensionNumberResponseSchema, { baseTypeName: r.value, extensionNumber: numbers }),
      };
    }
    case undefined:
    default:
      return {
        case: "errorResponse",
        value: create(v1.ErrorResponseSchema, {
          errorCode: Code.InvalidArgument,
          errorMessage: "empty reflection request",
        }),
      };
  }
}

const notFound = (what: string): Response["messageResponse"] => ({
  case: "errorResponse",
  value: create(v1.ErrorResponseSchema, { errorCode: Code.NotFound, errorMessage: `${what} not found` }),
});
