#!/usr/bin/env python3
"""A minimal Kubernetes CRI client (what crictl does, for the clients_cri test).

    cri_client.py <unix socket> <RuntimeService method> [<request as JSON>]

Loads cri.proto (beside this file) at run time with grpcio-tools, calls
runtime.v1.RuntimeService/<method> and prints the response as JSON (proto field names; bytes fields
decoded as UTF-8 text). A gRPC error goes to stderr as "<status code>: <details>", exit status 2.
Needs grpcio, grpcio-tools and protobuf (`python3 -m pip install grpcio grpcio-tools protobuf`).
"""
import json
import os
import sys

try:
    import grpc
    from google.protobuf import descriptor, json_format
except ImportError as e:
    sys.exit(f"cri_client.py: {e}: python3 -m pip install grpcio grpcio-tools protobuf")


def to_dict(msg):
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    for f in msg.DESCRIPTOR.fields:
        if f.type == descriptor.FieldDescriptor.TYPE_BYTES:
            d[f.name] = getattr(msg, f.name).decode("utf-8", "replace")
    return d


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sock, method = sys.argv[1], sys.argv[2]
    request = json.loads(sys.argv[3]) if len(sys.argv) == 4 else {}

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    protos = grpc.protos("cri.proto")
    service = protos.DESCRIPTOR.services_by_name["RuntimeService"]
    m = service.methods_by_name[method]
    req_type = getattr(protos, m.input_type.name)
    resp_type = getattr(protos, m.output_type.name)

    with grpc.insecure_channel(f"unix://{sock}") as channel:
        call = channel.unary_unary(
            f"/{service.full_name}/{method}",
            request_serializer=req_type.SerializeToString,
            response_deserializer=resp_type.FromString,
        )
        try:
            resp = call(json_format.ParseDict(request, req_type()), timeout=120)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(2)
    print(json.dumps(to_dict(resp)))


if __name__ == "__main__":
    main()
