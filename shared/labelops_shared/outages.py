"""Which failures are an outage of a server the service depends on (the database, object
storage, a peer service) rather than a fault of the request or message at hand.

An outage is retried: an event handler tries again until the server is back (the message is
never dead-lettered for it) and a gRPC call answers UNAVAILABLE, which tells the client to
try again, instead of an unexplained UNKNOWN.
"""

from __future__ import annotations

import grpc
import urllib3.exceptions
from minio.error import S3Error
from pymongo.errors import ConnectionFailure, OperationFailure

from labelops_shared.mongo import is_busy

# S3 answers that mean "the server is not able to answer now" (MinIO starting up, throttled).
_S3_UNAVAILABLE = frozenset({"XMinioServerNotInitialized", "ServiceUnavailable", "SlowDown",
                             "InternalError", "XMinioReadQuorum", "XMinioWriteQuorum"})


# FerretDB's answers to a request its own shutdown cut off (the request's context was
# cancelled): a write's SQLite transaction was rolled back, a read's query stopped. Nothing
# was written; the request can be sent again.
_FERRETDB_CUT_OFF = ("transaction has already been committed or rolled back",
                     "context canceled")


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionFailure):  # includes server selection and network timeouts
        return True
    if isinstance(exc, OperationFailure) and any(m in str(exc) for m in _FERRETDB_CUT_OFF):
        return True
    if is_busy(exc):
        return True  # FerretDB on SQLite: another writer held the file lock too long
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    if isinstance(exc, (urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError,
                        urllib3.exceptions.TimeoutError, urllib3.exceptions.NewConnectionError)):
        return True  # object storage unreachable (the client gave up its own retries)
    if isinstance(exc, S3Error):
        return exc.code in _S3_UNAVAILABLE
    return isinstance(exc, OSError)
