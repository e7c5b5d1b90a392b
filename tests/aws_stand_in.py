"""A local stand-in for AWS Secrets Manager: moto's server mode on a real HTTP port.

Import the fixtures into a test module so they stay local to the tests that need them
(`from tests.aws_stand_in import aws_stand_in_fixture  # noqa: F401`). Each is registered under
the name below, so a test's parameter does not shadow the imported function:

- `moto_server` (session): starts moto on 127.0.0.1 and a free port, yields its URL.
- `offline_aws`: dummy credentials, no instance metadata, no ~/.aws files, and
  `AWS_ENDPOINT_URL` pointing at a closed port, so nothing in the test can reach real AWS.
- `aws_stand_in`: `offline_aws` pointed at the moto server, emptied before each test; its
  `put_secret` seeds secrets.

The server runs in this process but is reached over HTTP like the real service, so the code under
test runs unpatched: credentials, signing, retries, timeouts and error parsing all happen.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from mypy_boto3_secretsmanager import SecretsManagerClient

from serving.secrets import aws_wire_logging_quietened

REGION = "eu-central-1"

# Variables through which botocore could find real credentials or a real endpoint.
_REAL_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


@dataclass
class AwsStandIn:
    """The moto endpoint a test talks to, and a way to put secrets there."""

    endpoint_url: str
    client: SecretsManagerClient = field(repr=False)

    def put_secret(self, name: str, value: str) -> None:
        """Create secret `name` with text `value`.

        Quietened like the code under test, so seeding never puts a secret into the logs a test
        inspects.
        """
        with aws_wire_logging_quietened():
            self.client.create_secret(Name=name, SecretString=value)


@pytest.fixture(name="moto_server", scope="session")
def moto_server_fixture() -> Iterator[str]:
    """moto's Secrets Manager (and every other service) on http://127.0.0.1:<free port>."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(name="closed_port_url")
def closed_port_url_fixture() -> Iterator[str]:
    """A local URL whose port is bound but not listening, so connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(name="offline_aws")
def offline_aws_fixture(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, closed_port_url: str
) -> str:
    """Dummy AWS credentials and a dead endpoint: a test that forgets the stand-in fails fast.

    Returns the dead endpoint's URL.
    """
    for name in _REAL_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    no_files = tmp_path_factory.mktemp("no-aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(no_files / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_files / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    return closed_port_url


@pytest.fixture(name="aws_stand_in")
def aws_stand_in_fixture(
    offline_aws: str, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> AwsStandIn:
    """AWS variables pointing at the moto server, holding no secrets yet."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    _reset(moto_server)
    session = boto3.session.Session()  # not boto3's default one, which caches credentials
    client = session.client("secretsmanager", region_name=REGION, endpoint_url=moto_server)
    return AwsStandIn(endpoint_url=moto_server, client=client)


def offline_aws_environment(endpoint_url: str, no_files: Path) -> dict[str, str]:
    """`offline_aws`'s variables for a subprocess (a server under test), pointed at
    `endpoint_url`: dummy credentials, no instance metadata, no ~/.aws files (`no_files` is an
    empty directory). Start from an environment without `_REAL_AWS_VARIABLES`."""
    return {
        "AWS_CONFIG_FILE": str(no_files / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(no_files / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint_url,
    }


def without_real_aws(environment: dict[str, str]) -> dict[str, str]:
    """`environment` less the variables through which botocore could find real AWS."""
    return {name: value for name, value in environment.items() if name not in _REAL_AWS_VARIABLES}


def _reset(endpoint_url: str) -> None:
    """Forget everything the server holds (moto's documented reset endpoint)."""
    url = f"{endpoint_url}/moto-api/reset"
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - the local server's URL
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        response.read()


def secret_file(directory: Path, field_name: str, value: str) -> Path:
    """Write a Docker/Kubernetes-style secret file: named after the field, newline at the end."""
    path = directory / field_name
    path.write_text(value + "\n", encoding="utf-8")
    return path
