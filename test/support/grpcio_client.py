"""A third-party gRPC client: Debian's python3-grpcio and python3-protobuf, no generated code.

Learns the schema only through server reflection (v1 or v1alpha), links every descriptor into a
strict protobuf DescriptorPool (which refuses a file whose imports are missing), then calls
CreateKey, Introspect and ListKeys with dynamic messages. Prints one JSON object.

usage: grpcio_client.py HOST:PORT ADMIN_KEY v1|v1alpha [watch|expiry]

With `expiry` (issue 22): the tenant maximum, a key's expiry, suspend and resume.

With `watch`: subscribes to WatchInvalidations (server streaming), creates and revokes a key, and
prints the stream's messages up to the revoke's invalidation.

With `scopes` (issue 22): a key with scopes and an IP allowlist, Introspect with required scopes
and client addresses, a rotation that replaces the scopes (ScopeList) and one that clears the
allowlist (an empty CidrList), a scoped session, and the INVALID_ARGUMENT of a bad field.
"""
import json
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

target, admin_key, version = sys.argv[1], sys.argv[2], sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "calls"
channel = grpc.insecure_channel(target)
reflection = channel.stream_stream(
    f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
    request_serializer=lambda b: b,
    response_deserializer=lambda b: b,
)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fields(buf):
    """(field number, bytes) of every length-delimited field; varints as ints."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 2:
            n, i = read_varint(buf, i)
            yield num, buf[i:i + n]
            i += n
        elif wire == 0:
            v, i = read_varint(buf, i)
            yield num, v
        else:
            raise ValueError(f"unexpected wire type {wire}")


def read_varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def ask(field, value):
    """One ServerReflectionRequest with `field` (4: file_containing_symbol, 7: list_services) set."""
    data = value.encode()
    (res,) = list(reflection(iter([bytes([field << 3 | 2]) + varint(len(data)) + data]), timeout=10))
    for num, body in fields(res):
        if num == 7:
            raise RuntimeError(f"reflection error_response: {dict(fields(body))}")
        if num in (4, 6):
            return [b for n, b in fields(body) if n == 1]
    raise RuntimeError("no answer")


services = sorted(dict(fields(s))[1].decode() for s in ask(7, ""))
pool = descriptor_pool.DescriptorPool()
files = {}
for service in services:
    for raw in ask(4, service):
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        files[fd.name] = fd
added = set()


def add(name):
    if name in added:
        return
    for dep in files[name].dependency:
        add(dep)
    pool.Add(files[name])  # strict: fails when an import is missing or a type is not imported
    added.add(name)


for name in files:
    add(name)
svc = pool.FindServiceByName("warpflow.auth.v1.TokenService")
make = getattr(message_factory, "GetMessageClass", None) or message_factory.MessageFactory(pool).GetPrototype


def call(method, request, metadata=()):
    m = svc.FindMethodByName(method)
    req_cls, res_cls = make(m.input_type), make(m.output_type)
    rpc = channel.unary_unary(
        f"/warpflow.auth.v1.TokenService/{method}",
        request_serializer=lambda msg: msg.SerializeToString(),
        response_deserializer=res_cls.FromString,
    )
    return json_format.MessageToDict(rpc(json_format.ParseDict(request, req_cls()), metadata=metadata, timeout=10))


admin = (("authorization", f"Bearer {admin_key}"),)
tenant = f"grpcio-{version.lower()}"


def watch():
    m = svc.FindMethodByName("WatchInvalidations")
    req_cls, res_cls = make(m.input_type), make(m.output_type)
    rpc = channel.unary_stream(
        "/warpflow.auth.v1.TokenService/WatchInvalidations",
        request_serializer=lambda msg: msg.SerializeToString(),
        response_deserializer=res_cls.FromString,
    )
    stream = rpc(req_cls(), timeout=20)
    seen = [json_format.MessageToDict(next(stream))]  # the START reset
    key = call("CreateKey", {"tenant_id": tenant, "label": "grpcio-watch"}, admin)["key"]
    call("RevokeKey", {"tenant_id": tenant, "key_id": key["id"]}, admin)
    for msg in stream:
        seen.append(json_format.MessageToDict(msg))
        inv = seen[-1].get("invalidation", {})
        if inv.get("kind") == "INVALIDATION_KIND_KEY_REVOKED" and inv.get("keyId") == key["id"]:
            break
    stream.cancel()
    print(json.dumps({"key_id": key["id"], "messages": seen}))


def error_of(method, request, metadata=()):
    try:
        call(method, request, metadata)
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}
    return None


def scopes():
    t = f"{tenant}-scopes"
    created = call(
        "CreateKey",
        {"tenant_id": t, "label": "scoped", "scopes": ["reports:read", "deals:read"], "allowed_cidrs": ["10.1.2.3/8", "2001:DB8::/32"]},
        admin,
    )
    tok = created["token"]
    answers = {
        name: call("Introspect", {"token": tok, **req})
        for name, req in [
            ("inside", {"client_address": "10.9.9.9"}),
            ("inside_v6_scoped", {"client_address": "2001:db8::5", "required_scopes": ["reports:read"]}),
            ("mapped", {"client_address": "::ffff:10.0.0.1"}),
            ("outside", {"client_address": "192.0.2.1"}),
            ("no_address", {}),
            ("lacking", {"client_address": "10.0.0.1", "required_scopes": ["reports:read", "deals:write"]}),
        ]
    }
    rotated = call("RotateKey", {"tenant_id": t, "key_id": created["key"]["id"], "scopes": {"scopes": ["deals:read"]}}, admin)
    cleared = call("RotateKey", {"tenant_id": t, "key_id": rotated["key"]["id"], "allowed_cidrs": {}}, admin)
    session = call("CreateSession", {"tenant_id": t, "scopes": ["reports:read"]}, admin)
    print(json.dumps({
        "created": created["key"],
        "answers": answers,
        "rotated": rotated["key"],
        "cleared": cleared["key"],
        "cleared_anywhere": call("Introspect", {"token": cleared["token"], "required_scopes": ["deals:read"]}),
        "session": {k: v for k, v in session.items() if k != "token"},
        "session_lacking": call("Introspect", {"token": session["token"], "required_scopes": ["deals:read"]}),
        "bad_cidr": error_of("CreateKey", {"tenant_id": t, "label": "x", "allowed_cidrs": ["10.0.0.0/33"]}, admin),
        "bad_address": error_of("Introspect", {"token": tok, "client_address": "not-an-address"}),
    }))


def expiry():
    """Issue 22 through dynamic messages: the tenant maximum (update_mask), expires_in / expires_at,
    Introspect's expires_at, EXPIRED after the instant, the refusals, suspend and resume."""
    t = f"{tenant}-exp"

    def refused(method, request):
        try:
            call(method, request, admin)
        except grpc.RpcError as e:
            return {"code": e.code().name, "details": e.details()}
        return {"code": "OK"}

    policy = call("SetTenantPolicy", {"tenant_id": t, "max_key_lifetime": "2592000s", "update_mask": "maxKeyLifetime"}, admin)
    short = call("CreateKey", {"tenant_id": t, "label": "short", "expires_in": "1s"}, admin)
    active = call("Introspect", {"token": short["token"]})
    time.sleep(1.3)
    expired = call("Introspect", {"token": short["token"]})
    default = call("CreateKey", {"tenant_id": t, "label": "default"}, admin)
    suspended = call("SuspendKey", {"tenant_id": t, "key_id": default["key"]["id"]}, admin)
    while_suspended = call("Introspect", {"token": default["token"]})
    call("ResumeKey", {"tenant_id": t, "key_id": default["key"]["id"]}, admin)
    print(json.dumps({
        "policy": policy,
        "short": short["key"],
        "active": active,
        "expired": expired,
        "default": default["key"],
        "suspended": suspended["key"],
        "while_suspended": while_suspended,
        "resumed": call("Introspect", {"token": default["token"]}),
        "too_long": refused("CreateKey", {"tenant_id": t, "label": "x", "expires_in": "2678400s"}),
        "past": refused("CreateKey", {"tenant_id": t, "label": "x", "expires_at": "2001-01-01T00:00:00Z"}),
        "bad_mask": refused("SetTenantPolicy", {"tenant_id": t, "update_mask": "tokenHash"}),
    }))


if mode == "watch":
    watch()
    sys.exit(0)
if mode == "scopes":
    scopes()
    sys.exit(0)
if mode == "expiry":
    expiry()
    sys.exit(0)
created = call("CreateKey", {"tenant_id": tenant, "label": "grpcio"}, admin)
print(json.dumps({
    "services": services,
    "files": sorted(files),
    "created": created,
    "introspected": call("Introspect", {"token": created["token"], "expected_tenant_id": tenant}),
    "listed": call("ListKeys", {"tenant_id": tenant}, admin),
}))
