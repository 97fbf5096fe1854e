"""Container health check without extra binaries: ``python -m labelops_shared.healthcheck
[HOST:PORT]`` exits 0 when the gRPC server there answers SERVING (default: this container's
LABELOPS_GRPC_PORT on loopback). Kubernetes probes gRPC health natively; Compose uses this."""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(addr: str, timeout: float = 3.0) -> bool:
    with grpc.insecure_channel(addr) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else (
        f"127.0.0.1:{os.environ.get('LABELOPS_GRPC_PORT', '50051')}")
    sys.exit(0 if check(target) else 1)
