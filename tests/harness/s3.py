"""An S3-compatible endpoint for the tests: moto's standalone server over HTTP
on loopback. The code under test talks to it exactly as to AWS S3 or MinIO;
only the ``endpoint=`` in ``storage.audit_sessions_uri`` differs.

moto keeps its buckets in this process, so a server stopped and started again
on the same port (the store down, then back) still has them.
"""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from moto.server import ThreadedMotoServer

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "auditor-test-key",
    "AWS_SECRET_ACCESS_KEY": "auditor-test-secret",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    port: int = field(default_factory=free_port)
    server: ThreadedMotoServer | None = None

    @classmethod
    def start_new(cls) -> S3Server:
        s = cls()
        s.start()
        s.reset()
        return s

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uri(self, bucket: str, prefix: str = "prod") -> str:
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}&region=us-east-1"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def reset(self) -> None:
        """Forget every bucket (moto keeps them per process, not per server)."""
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        ).close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self) -> Any:
        """A plain S3 client (boto3, which moto brings) for the tests' own look."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))
