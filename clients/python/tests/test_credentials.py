"""mTLS material: each mistake a data scientist makes is named with its file and fix, before or
during the handshake (certificates made with the openssl command for the FAKE TLS peer)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest

import veilsum
from fake_member_service import start_fake


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}-key.pem", directory / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-out", str(cert), "-days", "2", "-subj", f"/CN={name}")
    return cert, key


def issue(directory: Path, name: str, ca: tuple[Path, Path], extension: str) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}-key.pem", directory / f"{name}.csr", directory / f"{name}.pem"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
            "-subj", f"/CN={name}/O=aldbridge")
    ext = directory / f"{name}.ext"
    ext.write_text(extension)
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial", "-out", str(cert),
            "-days", "2", "-extfile", str(ext))
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    server_ca = make_ca(directory, "peer-ca")
    caller_ca = make_ca(directory, "caller-ca")
    other_ca = make_ca(directory, "other-ca")
    server = issue(directory, "peer", server_ca, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    caller = issue(directory, "alice", caller_ca, "extendedKeyUsage=clientAuth\n")
    stranger = issue(directory, "mallory", other_ca, "extendedKeyUsage=clientAuth\n")
    return {
        "server_ca": server_ca[0], "caller_ca": caller_ca[0], "other_ca": other_ca[0],
        "server_cert": server[0], "server_key": server[1], "cert": caller[0], "key": caller[1],
        "stranger_cert": stranger[0], "stranger_key": stranger[1],
    }


@pytest.fixture(scope="module")
def tls_fake(pki):
    credentials = grpc.ssl_server_credentials(
        [(pki["server_key"].read_bytes(), pki["server_cert"].read_bytes())],
        root_certificates=pki["caller_ca"].read_bytes(),
        require_client_auth=True,
    )
    server, service, address = start_fake(credentials)
    yield service, address
    server.stop(None)


def test_a_caller_of_the_banks_ca_submits_over_mtls(pki, tls_fake) -> None:
    service, address = tls_fake
    with veilsum.Client(address, ca_cert=pki["server_ca"], cert=str(pki["cert"]), key=pki["key"].read_bytes()) as client:
        submission = client.submit("fraud", np.ones(3), progress=False)
    assert submission.values == 3 and service.received[-1].header.values == 3


def test_a_missing_file_is_named_with_its_role(pki, tmp_path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(veilsum.ConfigurationError) as caught:
        veilsum.Client("127.0.0.1:1", ca_cert=missing, cert=pki["cert"], key=pki["key"])
    assert caught.value.message == (
        f"ca_cert: {missing} does not exist; pass the path of the CA certificate that signed the bank peer's server certificate"
    )


def test_a_file_that_is_not_pem_is_named(pki, tmp_path) -> None:
    junk = tmp_path / "cert.der"
    junk.write_bytes(b"\x30\x82 not pem")
    with pytest.raises(veilsum.ConfigurationError) as caught:
        veilsum.Client("127.0.0.1:1", ca_cert=pki["server_ca"], cert=junk, key=pki["key"])
    assert caught.value.message.startswith(f"cert: {junk} is not a PEM file holding a CERTIFICATE")


def test_a_certificate_that_does_not_match_its_key_names_both_files(pki) -> None:
    with pytest.raises(veilsum.ConfigurationError) as caught:
        veilsum.Client("127.0.0.1:1", ca_cert=pki["server_ca"], cert=pki["cert"], key=pki["stranger_key"])
    assert caught.value.message.startswith(
        f"the certificate {pki['cert']} does not match the private key {pki['stranger_key']}: pass the key written with that certificate"
    )


def test_a_peer_certificate_from_another_ca_fails_naming_tls_and_the_ca(pki, tls_fake) -> None:
    _, address = tls_fake
    client = veilsum.Client(address, ca_cert=pki["other_ca"], cert=pki["cert"], key=pki["key"], retries=0)
    with pytest.raises(veilsum.Unavailable) as caught:
        client.list_rounds()
    assert caught.value.message.startswith(f"TLS with the bank's peer at {address} failed: ")
    assert f"Check that ca_cert ({pki['other_ca']}) is the CA that signed the peer's server certificate" in caught.value.message
    client.close()


def test_a_caller_certificate_from_another_ca_is_refused(pki, tls_fake) -> None:
    _, address = tls_fake
    client = veilsum.Client(address, ca_cert=pki["server_ca"], cert=pki["stranger_cert"], key=pki["stranger_key"], retries=0)
    with pytest.raises(veilsum.Unavailable) as caught:
        client.list_rounds()
    assert caught.value.message.startswith(f"the bank's peer at {address} accepted the connection but closed it during the TLS handshake")
    assert f"it most likely does not trust your certificate {pki['stranger_cert']}, issued by CN=other-ca." in caught.value.message
    client.close()
