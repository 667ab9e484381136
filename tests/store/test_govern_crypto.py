from __future__ import annotations

import base64

import pytest

from facesearch.govern import Cipher, EncryptionError, decrypt, encrypt, generate_key
from facesearch.settings import Settings
from facesearch.store.crypto import ENV_VAR, is_encrypted, maybe_decrypt, parse_key

pytest.importorskip("cryptography")


def test_round_trip_and_format() -> None:
    c = Cipher(parse_key(generate_key()))
    data = b"\xff\xd8\xff jpeg bytes" * 100
    blob = c.encrypt(data, aad=b"crop/abc")
    assert is_encrypted(blob) and data not in blob and len(blob) == len(data) + 40
    assert c.decrypt(blob, aad=b"crop/abc") == data
    assert c.encrypt(data) != c.encrypt(data)  # random nonce


def test_wrong_key_tampering_and_swapped_names_are_clear_errors() -> None:
    a, b = Cipher(parse_key(generate_key())), Cipher(parse_key(generate_key()))
    blob = a.encrypt(b"secret", aad=b"k1")
    with pytest.raises(EncryptionError, match="different key"):
        b.decrypt(blob, aad=b"k1")
    with pytest.raises(EncryptionError, match="modified, or belongs under another name"):
        a.decrypt(blob, aad=b"k2")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(EncryptionError, match="modified"):
        a.decrypt(tampered, aad=b"k1")
    with pytest.raises(EncryptionError, match="not encrypted"):
        a.decrypt(b"plain")
    with pytest.raises(EncryptionError, match="not set"):
        maybe_decrypt(None, blob)
    assert maybe_decrypt(None, b"plain") == b"plain"


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert Cipher.from_settings(Settings.load()) is None
    with pytest.raises(EncryptionError, match="not set"):
        encrypt(b"x", settings=Settings.load())
    key = bytes(range(32))
    monkeypatch.setenv(ENV_VAR, base64.urlsafe_b64encode(key).decode())
    blob = encrypt(b"thumbnail", settings=Settings.load())
    monkeypatch.setenv(ENV_VAR, key.hex())  # the same key, as hex
    assert decrypt(blob, settings=Settings.load()) == b"thumbnail"
    monkeypatch.setenv(ENV_VAR, generate_key())
    with pytest.raises(EncryptionError, match="different key"):
        decrypt(blob, settings=Settings.load())
    monkeypatch.setenv(ENV_VAR, "too-short")
    with pytest.raises(EncryptionError, match="32 bytes"):
        Cipher.from_settings(Settings.load())


def test_key_from_typed_settings_and_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A programmatic key reaches the cipher without the environment; a mapping (what
    ``Settings.encryption_environ`` gives) is read, never ``os.environ`` itself."""
    monkeypatch.setenv(ENV_VAR, generate_key())  # ignored: the settings below name the key
    key = generate_key()
    c = Cipher.from_settings(Settings(encryption_key=key))
    assert c is not None and c.key_id == Cipher(parse_key(key)).key_id
    assert Cipher.from_settings(Settings(encryption_key="")) is None
    assert Cipher.from_env({}) is None
    assert Cipher.from_env({ENV_VAR: key}).key_id == c.key_id  # type: ignore[union-attr]
    blob = encrypt(b"x", settings=Settings(encryption_key=key))
    assert decrypt(blob, settings=Settings(encryption_key=key)) == b"x"
