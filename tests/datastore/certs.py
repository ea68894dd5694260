"""A throw-away CA, a server certificate for 127.0.0.1 and a client certificate (openssl, EC keys)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rackroute.datastore.members import ServerTLS


def openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def issue(directory: Path, name: str, subject: str, extensions: str) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=directory)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=directory)
    (directory / f"{name}.ext").write_text(extensions)
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=directory,
    )  # fmt: skip


def make_certificates(directory: Path) -> tuple[ServerTLS, Path, Path]:
    """(the members' files, client cert, client key)."""
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=directory)
    openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=rrt-test-ca", "-days", "1", "-out", "ca.pem",
        cwd=directory,
    )  # fmt: skip
    issue(
        directory,
        "server",
        "/CN=rrt-etcd",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    issue(directory, "client", "/CN=rrt-client", "extendedKeyUsage=clientAuth\n")
    server = ServerTLS(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    return server, directory / "client.pem", directory / "client.key"
