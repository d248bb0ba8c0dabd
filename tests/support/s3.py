"""Two S3 implementations on 127.0.0.1, both speaking the real protocol over
HTTP: moto's server (Python, in-process threads) and s3rver (Node.js, a child
process; installed from tests/support/s3rver/package.json by ``npm ci``, as
.ci/run does). Their differences that osidump meets are in docs/S3.md."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.servers import free_port

# s3rver checks signatures against its one built-in key pair; moto takes any.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "S3RVER",
    "AWS_SECRET_ACCESS_KEY": "S3RVER",
    "AWS_DEFAULT_REGION": "us-east-1",
}
S3RVER_DIR = Path(__file__).parent / "s3rver"
S3RVER_JS = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
S3RVER_HOW_TO = (
    "the s3rver tests need Node.js and s3rver 3.7.1: run `npm ci --prefix tests/support/s3rver` "
    "(.ci/run does)"
)


class S3Endpoint:
    """What tests need of an S3 implementation: a name, a URL and a client."""

    name = "?"
    endpoint_url = ""
    port = 0

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self) -> None:
        raise NotImplementedError


class Recorder:
    """Every request a boto3 client sends, through botocore's ``before-send``
    event: (operation, lower-cased headers, body)."""

    def __init__(self, client: Any):
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        client.meta.events.register("before-send.s3", self)

    def __call__(self, request: Any, event_name: str, **_: Any) -> None:
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        body = request.body if isinstance(request.body, bytes) else b""
        self.requests.append((event_name.rsplit(".", 1)[-1], headers, body))

    def of(self, operation: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for op, h, b in self.requests if op == operation]


def new_bucket(endpoint: S3Endpoint) -> str:
    """A new, uniquely named bucket."""
    import uuid

    name = "osi-" + uuid.uuid4().hex[:12]
    endpoint.client().create_bucket(Bucket=name)
    return name


class MotoS3(S3Endpoint):
    name = "moto"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.stop()


class S3rverUnavailable(RuntimeError):
    pass


class S3rver(S3Endpoint):
    """s3rver 3.7.1 in a child process, its data in a private directory."""

    name = "s3rver"

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not S3RVER_JS.exists():
            raise S3rverUnavailable(f"no node or no {S3RVER_JS}. {S3RVER_HOW_TO}")
        self._data = tempfile.mkdtemp(prefix="osidump-s3rver-")
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        # s3rver signs pagination tokens with a cipher Node 17+ only has in
        # OpenSSL 3's legacy provider; without it ListObjectsV2 page 2 fails.
        env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") + " --openssl-legacy-provider").strip()
        self._log = open(os.path.join(self._data, "s3rver.log"), "wb")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [node, str(S3RVER_JS), "-d", os.path.join(self._data, "buckets"), "-a", "127.0.0.1",
             "-p", str(self.port), "--silent"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                raise S3rverUnavailable(f"s3rver exited with code {self._proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise S3rverUnavailable("s3rver did not listen within 30 s")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        shutil.rmtree(self._data, ignore_errors=True)
