"""AES-GCM payload encryption, so tokens never sit in plaintext in a workflow history.

Every payload a client or worker sends is encrypted with the current key; the key id rides
in the payload's metadata, so payloads written under an older key still decode once a new
key is current (keep the old key in ``keys``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12


def new_key() -> str:
    """A fresh 256-bit key, base64-encoded as it is stored."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, str], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise ValueError(f"codec key {current_key_id!r} is not among the keys given")
        self._ciphers = {kid: AESGCM(base64.b64decode(key)) for kid, key in keys.items()}
        self._key_id = current_key_id

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._key_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: self._key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata[KEY_ID_METADATA].decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"payload was encrypted with unknown key {key_id!r}")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            out.append(Payload.FromString(cipher.decrypt(nonce, sealed, None)))
        return out
