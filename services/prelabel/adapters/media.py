"""Item media as the prelabel service reads them: objects in the platform's object store
(``s3://bucket/key``, through the S3 API) or plain http(s) URLs. Auto labeling reads image
bytes; the online path hands a model a short-lived URL instead of the bytes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import httpx
from minio.error import S3Error

from labelops_shared import storage

log = logging.getLogger(__name__)


class MediaUnavailable(Exception):
    """The object cannot be read (missing, too big, an unknown scheme); says why."""


class ForeignObject(MediaUnavailable):
    """The object is not the job's workspace's to use (another workspace's files, the
    platform's own): neither read nor shared by URL."""


class Media(Protocol):
    async def read(self, uri: str, *, workspace: str) -> bytes:
        """The object's bytes, for a job of the workspace."""
        ...

    async def url(self, uri: str, *, workspace: str) -> str:
        """A URL a model can read the object from for a while ("" when there is none), for
        a job of the workspace; ForeignObject when the object is not the workspace's."""
        ...


def refuse_foreign(uri: str, workspace: str) -> None:
    """Imports refuse items naming such objects; an item stored before that rule, or a
    rule gone wrong, still reaches nothing (the refusal is logged: it should not happen)."""
    if storage.foreign_uri(uri, workspace):
        log.warning("refused an item's object outside the job's workspace",
                    extra={"uri": uri, "workspace": workspace})
        raise ForeignObject(f"{uri}: not an object of the job's workspace")


class ObjectMedia:
    def __init__(self, client: Any, *, max_bytes: int) -> None:
        self._client = client  # a minio.Minio (synchronous: used from threads)
        self._max = max_bytes

    async def read(self, uri: str, *, workspace: str) -> bytes:
        if uri.startswith(("http://", "https://")):
            return await self._read_http(uri)
        refuse_foreign(uri, workspace)
        try:
            bucket, key = storage.parse_s3_uri(uri)
        except ValueError as exc:
            raise MediaUnavailable(str(exc)) from None
        return await asyncio.to_thread(self._read_object, bucket, key, uri)

    def _read_object(self, bucket: str, key: str, uri: str) -> bytes:
        try:
            stat = self._client.stat_object(bucket, key)
            if stat.size is not None and stat.size > self._max:
                raise MediaUnavailable(f"{uri}: {stat.size} bytes, more than {self._max}")
            response = self._client.get_object(bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()
        except S3Error as exc:
            raise MediaUnavailable(f"{uri}: {exc.code}") from None

    async def _read_http(self, uri: str) -> bytes:
        async with httpx.AsyncClient(timeout=30.0) as client:
            try:
                async with client.stream("GET", uri) as response:
                    if response.status_code != 200:
                        raise MediaUnavailable(f"{uri}: HTTP {response.status_code}")
                    body = bytearray()
                    async for part in response.aiter_bytes():
                        body += part
                        if len(body) > self._max:
                            raise MediaUnavailable(f"{uri}: more than {self._max} bytes")
                    return bytes(body)
            except httpx.HTTPError as exc:
                raise MediaUnavailable(f"{uri}: {exc!r}") from None

    async def url(self, uri: str, *, workspace: str) -> str:
        if uri.startswith(("http://", "https://")):
            return uri
        refuse_foreign(uri, workspace)
        try:
            bucket, key = storage.parse_s3_uri(uri)
        except ValueError:
            return ""
        return str(await asyncio.to_thread(self._client.presigned_get_object, bucket, key,
                                           expires=storage.PRESIGN_TTL))
