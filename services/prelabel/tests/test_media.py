"""Item media on the real object store (MinIO, integration): image bytes read by URI for
auto labeling, a presigned URL a model can read, and clear refusals."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from minio import Minio

from labelops_shared import storage
from services.prelabel.adapters.media import MediaUnavailable, ObjectMedia

pytestmark = pytest.mark.integration


@pytest.fixture
async def minio() -> AsyncIterator[Minio]:
    env = dict(os.environ)
    if not env.get("LABELOPS_MINIO_ENDPOINT"):
        from labelops_cli.stack.servers import up_infra

        env.update(up_infra())
    client = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                   secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    yield client


async def test_objects_are_read_and_shared_by_url(minio: Minio) -> None:
    key = f"prelabel-tests/{uuid.uuid4().hex}/a.png"
    body = b"\x89PNG fake bytes"
    minio.put_object(storage.DATASETS_BUCKET, key, io.BytesIO(body), len(body))
    try:
        media = ObjectMedia(minio, max_bytes=1024)
        uri = f"s3://{storage.DATASETS_BUCKET}/{key}"
        assert await media.read(uri, workspace="ws1") == body
        url = await media.url(uri, workspace="ws1")
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).content == body
        small = ObjectMedia(minio, max_bytes=4)
        with pytest.raises(MediaUnavailable, match="more than 4"):
            await small.read(uri, workspace="ws1")
        with pytest.raises(MediaUnavailable, match="NoSuchKey"):
            await media.read(f"s3://{storage.DATASETS_BUCKET}/{key}.missing", workspace="ws1")
        with pytest.raises(MediaUnavailable, match="expected s3://bucket/key"):
            await media.read("oss://elsewhere/x.png", workspace="ws1")
        assert await media.url("oss://elsewhere/x.png", workspace="ws1") == ""
    finally:
        minio.remove_object(storage.DATASETS_BUCKET, key)
