"""Install and run the real servers of the local stack: Kafka (KRaft), FerretDB (the MongoDB
API) and MinIO, natively and idempotently with pinned versions, or from Docker images with
testcontainers where a Docker engine is reachable.

    from labelops_cli.stack import up_infra, stack_env, down_infra
    env = up_infra()   # LABELOPS_KAFKA_BOOTSTRAP, LABELOPS_MONGO_URL, LABELOPS_MINIO_* …

Command line: ``python -m labelops_cli.stack up|down|status|restart NAME|kill NAME``.
"""

from labelops_cli.stack.errors import StackError
from labelops_cli.stack.servers import (
    BUCKETS,
    ENV_KEYS,
    SERVERS,
    InfraEnv,
    ServerStatus,
    down_infra,
    infra_mode,
    infra_status,
    kill_server,
    restart_server,
    server_pid,
    server_status,
    stack_env,
    start_server,
    stop_server,
    up_infra,
)

__all__ = [
    "BUCKETS", "ENV_KEYS", "SERVERS", "InfraEnv", "ServerStatus", "StackError", "down_infra",
    "infra_mode", "infra_status", "kill_server", "restart_server", "server_pid",
    "server_status", "stack_env", "start_server", "stop_server", "up_infra",
]
