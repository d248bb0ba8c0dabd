"""A fake MySQL 8 server that speaks only the login handshake, for the one
thing no server here can show: MySQL's ``caching_sha2_password`` full
authentication over plain TCP, where the client must RSA-encrypt the password
with the server's public key (a MySQL 8.4 default login once the server's
cache is cold). MariaDB has no such plugin and no MySQL server is installed.

``FakeMySQL8Login`` listens on 127.0.0.1, sends a Handshake V10 without TLS,
answers the fast-path scramble with "perform full authentication", sends its
public key when asked and decrypts what comes back with its private key
(RSA-OAEP with SHA-1, as MySQL's sha2_password.cc does). It records what it
saw for the test to check, accepts the login only if the decrypted bytes are
the expected password, and then answers every query with OK. With
``switch_to`` set, it asks the client to switch to that authentication plugin
instead. Protocol reference: MySQL's "Connection Phase" internals pages.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# Capability flags (include/mysql_com.h).
LONG_PASSWORD = 0x1
CONNECT_WITH_DB = 0x8
PROTOCOL_41 = 0x200
TRANSACTIONS = 0x2000
SECURE_CONNECTION = 0x8000
MULTI_STATEMENTS = 0x10000
MULTI_RESULTS = 0x20000
PLUGIN_AUTH = 0x80000
PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000
SSL = 0x800
CAPABILITIES = (LONG_PASSWORD | CONNECT_WITH_DB | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION
                | MULTI_STATEMENTS | MULTI_RESULTS | PLUGIN_AUTH | PLUGIN_AUTH_LENENC_CLIENT_DATA)
SERVER_STATUS_AUTOCOMMIT = 0x2
COM_QUIT = 0x01


def _lenenc(data: bytes, offset: int) -> tuple[int, int]:
    first = data[offset]
    if first < 0xFB:
        return first, offset + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[offset + 1:offset + 1 + size], "little"), offset + 1 + size


@dataclass
class LoginSeen:
    """What the fake saw of one login."""

    user: str = ""
    client_capabilities: int = 0
    client_plugin: str = ""
    fast_scramble: bytes = b""
    fast_scramble_valid: bool = False
    requested_public_key: bool = False
    ciphertext: bytes = b""
    decrypted: bytes = b""
    accepted: bool = False
    queries: list[bytes] = field(default_factory=list)


class FakeMySQL8Login:
    """A fake server for the login exchange (see the module docstring)."""

    def __init__(self, *, password: bytes, switch_to: str | None = None):
        self.password = password
        self.switch_to = switch_to
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.logins: list[LoginSeen] = []
        self.errors: list[BaseException] = []
        self._closing = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing = True
        # close() alone does not wake a thread blocked in accept(): connect once.
        with socket.create_connection(("127.0.0.1", self.port)):
            pass
        self._thread.join()
        self._listener.close()

    def __enter__(self) -> FakeMySQL8Login:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the protocol ---------------------------------------------------

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._closing:
                conn.close()
                return
            with conn:
                try:
                    self._session(_Wire(conn))
                except (ConnectionError, EOFError):
                    pass  # the client hung up (a failed login)
                except Exception as exc:  # surfaced by the test through .errors
                    self.errors.append(exc)

    def _session(self, wire: _Wire) -> None:
        seen = LoginSeen()
        self.logins.append(seen)
        nonce = bytes(b % 94 + 33 for b in os.urandom(20))  # printable, no NUL, like MySQL's
        wire.send(0, self._handshake(nonce))
        seq, response = wire.recv()
        self._read_handshake_response(response, seen)
        if self.switch_to is not None:
            wire.send(seq + 1, b"\xfe" + self.switch_to.encode() + b"\0" + nonce + b"\0")
            wire.recv()
            wire.send(seq + 3, _error(1045, "28000", "Access denied (fake)"))
            return
        seen.fast_scramble_valid = seen.fast_scramble == _caching_sha2_scramble(self.password, nonce)
        # A cold cache cannot check the scramble: full authentication either way.
        wire.send(seq + 1, b"\x01\x04")
        seq, request = wire.recv()
        if request == b"\x02":  # the client asks for the public key
            seen.requested_public_key = True
            wire.send(seq + 1, b"\x01" + self.public_pem)
            seq, request = wire.recv()
        seen.ciphertext = request
        plain = self.key.decrypt(request, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                       algorithm=hashes.SHA1(), label=None))
        seen.decrypted = bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(plain))
        if seen.decrypted != self.password + b"\0":
            wire.send(seq + 1, _error(1045, "28000", f"Access denied for user '{seen.user}'"))
            return
        seen.accepted = True
        wire.send(seq + 1, _ok())
        while True:  # commands: OK to every query, until COM_QUIT
            _, command = wire.recv()
            if command[:1] == bytes([COM_QUIT]):
                return
            seen.queries.append(command[1:])
            wire.send(1, _ok())

    def _handshake(self, nonce: bytes) -> bytes:
        return (b"\x0a" + b"8.4.0-fake\0" + struct.pack("<I", 7) + nonce[:8] + b"\0"
                + struct.pack("<H", CAPABILITIES & 0xFFFF) + bytes([255])
                + struct.pack("<H", SERVER_STATUS_AUTOCOMMIT) + struct.pack("<H", CAPABILITIES >> 16)
                + bytes([21]) + b"\0" * 10 + nonce[8:] + b"\0" + b"caching_sha2_password\0")

    @staticmethod
    def _read_handshake_response(data: bytes, seen: LoginSeen) -> None:
        (caps,) = struct.unpack("<I", data[:4])
        seen.client_capabilities = caps
        assert not caps & SSL, "the client asked for TLS, which the fake never offered"
        offset = 4 + 4 + 1 + 23
        end = data.index(b"\0", offset)
        seen.user = data[offset:end].decode()
        offset = end + 1
        size, offset = _lenenc(data, offset)
        seen.fast_scramble = data[offset:offset + size]
        offset += size
        if caps & CONNECT_WITH_DB:
            offset = data.index(b"\0", offset) + 1
        if caps & PLUGIN_AUTH:
            seen.client_plugin = data[offset:data.index(b"\0", offset)].decode()


def _caching_sha2_scramble(password: bytes, nonce: bytes) -> bytes:
    """XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)), MySQL's fast path."""
    p1 = hashlib.sha256(password).digest()
    p3 = hashlib.sha256(hashlib.sha256(p1).digest() + nonce).digest()
    return bytes(a ^ b for a, b in zip(p1, p3, strict=True))


def _ok() -> bytes:
    return b"\x00\x00\x00" + struct.pack("<HH", SERVER_STATUS_AUTOCOMMIT, 0)


def _error(code: int, state: str, message: str) -> bytes:
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode()


class _Wire:
    """MySQL packets: 3-byte little-endian length, 1-byte sequence number."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, seq: int, payload: bytes) -> None:
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq % 256]) + payload)

    def recv(self) -> tuple[int, bytes]:
        header = self._exactly(4)
        return header[3], self._exactly(int.from_bytes(header[:3], "little"))

    def _exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            part = self.sock.recv(n - len(out))
            if not part:
                raise EOFError("client closed the connection")
            out += part
        return out
