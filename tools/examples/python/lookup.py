#!/usr/bin/python3
"""Look up the providers of an info hash on a btoverlay agent, from Python.

Generate the stubs first (Debian: protobuf-compiler, protobuf-compiler-grpc,
python3-grpcio, python3-protobuf), from the repository root:
    protoc -I proto --python_out=OUT --grpc_out=OUT \
        --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin proto/btoverlay/v1/*.proto
then: PYTHONPATH=OUT /usr/bin/python3 lookup.py localhost:6000 <40-hex info hash>
"""
import sys

import grpc
from btoverlay.v1 import overlay_pb2, overlay_pb2_grpc


def main() -> int:
    node, info_hash = sys.argv[1], bytes.fromhex(sys.argv[2])
    with grpc.insecure_channel(node) as channel:
        stub = overlay_pb2_grpc.OverlayStub(channel)
        reply = stub.Lookup(overlay_pb2.LookupRequest(info_hash=info_hash, limit=50), timeout=3)
    for p in reply.providers:  # newest first; last_seen is Unix milliseconds
        print(f"{p.addr}\t{p.peer_id.decode('latin1')}\t{p.left}\t{p.last_seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
