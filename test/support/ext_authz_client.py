"""Envoy's side of ext_authz over gRPC, without Envoy and without this project's code.

Builds envoy.service.auth.v3.CheckRequest / CheckResponse in a protobuf DescriptorPool from the
field numbers of Envoy's own protos (envoyproxy/envoy api/envoy/service/auth/v3/external_auth.proto,
attribute_context.proto, api/envoy/config/core/v3/base.proto, address.proto,
api/envoy/type/v3/http_status.proto; googleapis google/rpc/status.proto), written out here by hand
(descriptor_pb2), sends them to /envoy.service.auth.v3.Authorization/Check with Debian's
python3-grpcio and decodes the answers the way Envoy's filter reads them.

usage: ext_authz_client.py HOST:PORT < cases.json   (prints one JSON array, one answer per case)
TLS when EXT_AUTHZ_TLS_CA names a CA file (PEM); a client certificate when EXT_AUTHZ_TLS_CERT and
EXT_AUTHZ_TLS_KEY name its files.

A case: {"headers": {name: value}} (HttpRequest.headers, the default) or {"header_map": [[name,
value], ...]} (encode_raw_headers: HeaderValue.key + raw_value), optional "context_extensions",
"source_address", "metadata" (gRPC call metadata, e.g. x-warpflow-caller-token), or "raw_hex"
(bytes sent as they are instead of a CheckRequest).
"""
import json
import os
import sys

import grpc
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
STR, BYTES, BOOL, INT32, INT64, UINT32, MSG, ENUM = (
    F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_BOOL, F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_MESSAGE, F.TYPE_ENUM,
)


def field(name, number, ftype, type_name=None, label=OPT, oneof=None):
    f = F(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof
    return f


def message(name, fields, nested=(), enums=(), oneofs=(), map_entry=False):
    m = descriptor_pb2.DescriptorProto(name=name, field=fields, nested_type=list(nested), enum_type=list(enums))
    for o in oneofs:
        m.oneof_decl.add(name=o)
    if map_entry:
        m.options.map_entry = True
    return m


def string_map(entry):
    return message(entry, [field("key", 1, STR), field("value", 2, STR)], map_entry=True)


def file(name, package, deps, messages, enums=(), services=()):
    return descriptor_pb2.FileDescriptorProto(
        name=name, package=package, dependency=deps, message_type=messages, enum_type=list(enums),
        service=list(services), syntax="proto3",
    )


CORE = ".envoy.config.core.v3."
AUTH = ".envoy.service.auth.v3."
AC = AUTH + "AttributeContext."

status_file = file("google/rpc/status.proto", "google.rpc", ["google/protobuf/any.proto"], [
    message("Status", [field("code", 1, INT32), field("message", 2, STR),
                       field("details", 3, MSG, ".google.protobuf.Any", REP)]),
])
http_status_file = file("envoy/type/v3/http_status.proto", "envoy.type.v3", [], [
    message("HttpStatus", [field("code", 1, ENUM, ".envoy.type.v3.StatusCode")]),
], enums=[descriptor_pb2.EnumDescriptorProto(name="StatusCode", value=[
    descriptor_pb2.EnumValueDescriptorProto(name=n, number=v)
    for n, v in [("Empty", 0), ("OK", 200), ("Unauthorized", 401), ("Forbidden", 403), ("ServiceUnavailable", 503)]
])])
base_file = file("envoy/config/core/v3/base.proto", "envoy.config.core.v3", ["google/protobuf/wrappers.proto"], [
    message("HeaderValue", [field("key", 1, STR), field("value", 2, STR), field("raw_value", 3, BYTES)]),
    message("HeaderValueOption", [
        field("header", 1, MSG, CORE + "HeaderValue"),
        field("append", 2, MSG, ".google.protobuf.BoolValue"),
        field("append_action", 3, ENUM, CORE + "HeaderValueOption.HeaderAppendAction"),
        field("keep_empty_value", 4, BOOL),
    ], enums=[descriptor_pb2.EnumDescriptorProto(name="HeaderAppendAction", value=[
        descriptor_pb2.EnumValueDescriptorProto(name=n, number=v)
        for n, v in [("APPEND_IF_EXISTS_OR_ADD", 0), ("ADD_IF_ABSENT", 1), ("OVERWRITE_IF_EXISTS_OR_ADD", 2),
                     ("OVERWRITE_IF_EXISTS", 3)]
    ])]),
    message("HeaderMap", [field("headers", 1, MSG, CORE + "HeaderValue", REP)]),
])
address_file = file("envoy/config/core/v3/address.proto", "envoy.config.core.v3", [], [
    message("SocketAddress", [field("address", 2, STR), field("port_value", 3, UINT32, oneof=0)],
            oneofs=["port_specifier"]),
    message("Address", [field("socket_address", 1, MSG, CORE + "SocketAddress", oneof=0)], oneofs=["address"]),
])
attribute_file = file("envoy/service/auth/v3/attribute_context.proto", "envoy.service.auth.v3",
                      ["envoy/config/core/v3/address.proto", "envoy/config/core/v3/base.proto"], [
    message("AttributeContext", [
        field("source", 1, MSG, AC + "Peer"),
        field("destination", 2, MSG, AC + "Peer"),
        field("request", 4, MSG, AC + "Request"),
        field("context_extensions", 10, MSG, AC + "ContextExtensionsEntry", REP),
    ], nested=[
        message("Peer", [field("address", 1, MSG, CORE + "Address"), field("principal", 4, STR)]),
        message("Request", [field("http", 2, MSG, AC + "HttpRequest")]),
        message("HttpRequest", [
            field("id", 1, STR), field("method", 2, STR),
            field("headers", 3, MSG, AC + "HttpRequest.HeadersEntry", REP),
            field("path", 4, STR), field("host", 5, STR), field("scheme", 6, STR), field("size", 9, INT64),
            field("protocol", 10, STR),
            field("header_map", 13, MSG, CORE + "HeaderMap"),
        ], nested=[string_map("HeadersEntry")]),
        string_map("ContextExtensionsEntry"),
    ]),
])
external_file = file("envoy/service/auth/v3/external_auth.proto", "envoy.service.auth.v3", [
    "envoy/config/core/v3/base.proto", "envoy/service/auth/v3/attribute_context.proto",
    "envoy/type/v3/http_status.proto", "google/protobuf/struct.proto", "google/rpc/status.proto",
], [
    message("CheckRequest", [field("attributes", 1, MSG, AUTH + "AttributeContext")]),
    message("DeniedHttpResponse", [
        field("status", 1, MSG, ".envoy.type.v3.HttpStatus"),
        field("headers", 2, MSG, CORE + "HeaderValueOption", REP),
        field("body", 3, STR),
    ]),
    message("OkHttpResponse", [
        field("headers", 2, MSG, CORE + "HeaderValueOption", REP),
        field("headers_to_remove", 5, STR, label=REP),
        field("response_headers_to_add", 6, MSG, CORE + "HeaderValueOption", REP),
    ]),
    message("CheckResponse", [
        field("status", 1, MSG, ".google.rpc.Status"),
        field("denied_response", 2, MSG, AUTH + "DeniedHttpResponse", oneof=0),
        field("ok_response", 3, MSG, AUTH + "OkHttpResponse", oneof=0),
        field("dynamic_metadata", 4, MSG, ".google.protobuf.Struct"),
    ], oneofs=["http_response"]),
])

pool = descriptor_pool.DescriptorPool()
for wkt in (any_pb2, struct_pb2, timestamp_pb2, wrappers_pb2):
    pool.AddSerializedFile(wkt.DESCRIPTOR.serialized_pb)
for f in (status_file, http_status_file, base_file, address_file, attribute_file, external_file):
    pool.Add(f)
factory = message_factory.MessageFactory(pool)
CheckRequest = factory.GetPrototype(pool.FindMessageTypeByName("envoy.service.auth.v3.CheckRequest"))
CheckResponse = factory.GetPrototype(pool.FindMessageTypeByName("envoy.service.auth.v3.CheckResponse"))


def build(case):
    req = CheckRequest()
    a = req.attributes
    http = a.request.http
    http.method, http.path, http.host, http.scheme, http.protocol = "GET", "/orders", "api.example", "https", "HTTP/2"
    if "header_map" in case:
        for k, v in case["header_map"]:
            http.header_map.headers.add(key=k, raw_value=v.encode("latin1"))
    for k, v in case.get("headers", {}).items():
        http.headers[k] = v
    for k, v in case.get("context_extensions", {}).items():
        a.context_extensions[k] = v
    a.source.address.socket_address.address = case.get("source_address", "203.0.113.7")
    a.source.address.socket_address.port_value = 41000
    return req.SerializeToString()


def decode(resp):
    """The answer as Envoy's filter reads it (ext_authz_grpc_impl.cc): status, then the oneof."""
    out = {"status": {"code": resp.status.code, "message": resp.status.message}}
    if resp.HasField("ok_response"):
        out["ok"] = {
            "headers": [
                {"key": h.header.key, "value": h.header.value,
                 "append": h.append.value if h.HasField("append") else None,
                 "append_action": h.append_action}
                for h in resp.ok_response.headers
            ],
            "headers_to_remove": list(resp.ok_response.headers_to_remove),
        }
    if resp.HasField("denied_response"):
        d = resp.denied_response
        out["denied"] = {
            "status": d.status.code,
            "headers": {h.header.key: h.header.value for h in d.headers},
            "appends": [h.append.value if h.HasField("append") else None for h in d.headers],
            "body": d.body,
        }
    if resp.HasField("dynamic_metadata"):
        out["dynamic_metadata"] = json_format.MessageToDict(resp.dynamic_metadata)
    return out


def main():
    ca = os.environ.get("EXT_AUTHZ_TLS_CA")
    if ca:
        read = lambda name: open(os.environ[name], "rb").read() if os.environ.get(name) else None
        creds = grpc.ssl_channel_credentials(read("EXT_AUTHZ_TLS_CA"), read("EXT_AUTHZ_TLS_KEY"), read("EXT_AUTHZ_TLS_CERT"))
        channel = grpc.secure_channel(sys.argv[1], creds)
    else:
        channel = grpc.insecure_channel(sys.argv[1])
    check = channel.unary_unary(
        "/envoy.service.auth.v3.Authorization/Check",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    answers = []
    for case in json.load(sys.stdin):
        payload = bytes.fromhex(case["raw_hex"]) if "raw_hex" in case else build(case)
        try:
            raw = check(payload, metadata=list(case.get("metadata", {}).items()), timeout=10)
            resp = CheckResponse()
            resp.ParseFromString(raw)
            answers.append(decode(resp))
        except grpc.RpcError as e:
            answers.append({"rpc_error": e.code().name, "details": e.details()})
    print(json.dumps(answers))


main()
