"""Moving image data between HTTP and the store without holding it in memory.

Request bodies arrive in small pieces (uvicorn's flow control keeps only a little buffered);
they are gathered into ~1 MiB writes done in a worker thread, where hashing happens too, so
the event loop never blocks on disk or CPU. Downloads read the same way in reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.common.app import ApiError
from services.image.store import CHUNK_SIZE, ImageWriter, StoredData

# Glance's default image_size_cap: 1 TiB.
IMAGE_SIZE_CAP = 1 << 40
# How long an upload may go without data (Glance's default client_socket_timeout).
IDLE_TIMEOUT_SECONDS = 900.0


def too_large(size: int) -> ApiError:
    return ApiError(
        413,
        f"The incoming image is too large: {size} bytes is more than the "
        f"{IMAGE_SIZE_CAP} bytes an image may hold.",
    )


async def receive(writer: ImageWriter, chunks: AsyncIterator[bytes]) -> StoredData:
    """Write every chunk of a request body through ``writer``, then commit it.

    A client that stops sending for ``IDLE_TIMEOUT_SECONDS`` loses its upload (408), so a
    stalled client cannot keep an image "saving" forever.
    """
    pending = bytearray()
    incoming = aiter(chunks)
    while True:
        with anyio.move_on_after(IDLE_TIMEOUT_SECONDS) as idle:
            chunk = await anext(incoming, None)
        if idle.cancelled_caught:
            raise ApiError(
                408,
                f"No image data arrived for {IDLE_TIMEOUT_SECONDS:g} seconds; "
                "the upload was abandoned.",
            )
        if chunk is None:
            break
        pending += chunk
        if writer.size + len(pending) > IMAGE_SIZE_CAP:
            raise too_large(writer.size + len(pending))
        if len(pending) >= CHUNK_SIZE:
            await anyio.to_thread.run_sync(writer.write, pending)
            pending = bytearray()
    if pending:
        await anyio.to_thread.run_sync(writer.write, pending)
    return await anyio.to_thread.run_sync(writer.commit)


class ImageDataResponse(StreamingResponse):
    """An open file streamed in chunks; the file is closed however the response ends."""

    def __init__(self, file: BinaryIO, headers: dict[str, str]) -> None:
        super().__init__(_chunks(file), media_type="application/octet-stream", headers=headers)
        self._file = file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._file.close()


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await anyio.to_thread.run_sync(file.read, CHUNK_SIZE):
        yield chunk
