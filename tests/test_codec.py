"""Payload encryption: nothing readable leaves the process; keys can rotate."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from core.codec import EncryptionCodec, new_key
from core.messages import AuthenticateInput


async def test_payloads_are_sealed_and_open_again() -> None:
    codec = EncryptionCodec({"k1": new_key()}, "k1")
    plain = await DataConverter.default.encode([AuthenticateInput("secret-token")])
    sealed = await codec.encode(plain)
    assert b"secret-token" not in sealed[0].SerializeToString()
    assert sealed[0].metadata["encryption-key-id"] == b"k1"
    assert await codec.decode(sealed) == plain


async def test_old_payloads_decode_after_rotation_and_unknown_keys_fail() -> None:
    old, new = new_key(), new_key()
    sealed = await EncryptionCodec({"k1": old}, "k1").encode([Payload(data=b"x")])
    rotated = EncryptionCodec({"k1": old, "k2": new}, "k2")
    assert (await rotated.decode(sealed))[0].data == b"x"
    with pytest.raises(ValueError, match="unknown key 'k1'"):
        await EncryptionCodec({"k2": new}, "k2").decode(sealed)


async def test_unencrypted_payloads_pass_through() -> None:
    codec = EncryptionCodec({"k1": new_key()}, "k1")
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert await codec.decode([payload]) == [payload]
