"""Certificates and keys for a throw-away local kube-apiserver (ECDSA P-256, PEM files)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ControlPlanePKI", "generate_pki"]

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class ControlPlanePKI:
    """Paths of the PEM files kube-apiserver and its clients use."""

    serving_ca_cert: Path  # trust anchor for clients (kubeconfig certificate-authority)
    serving_cert: Path  # --tls-cert-file
    serving_key: Path  # --tls-private-key-file
    client_ca_cert: Path  # --client-ca-file
    admin_cert: Path  # client certificate, O=system:masters
    admin_key: Path
    controller_manager_cert: Path  # client certificate, CN=system:kube-controller-manager (bootstrap RBAC)
    controller_manager_key: Path
    service_account_key: Path  # --service-account-signing-key-file (private)
    service_account_pub: Path  # --service-account-key-file (public)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    subject: x509.Name,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def generate_pki(directory: Path, *, admin_user: str = "devenv-admin") -> ControlPlanePKI:
    """Write a fresh set of CAs, certificates and the service-account key pair into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = ControlPlanePKI(
        serving_ca_cert=directory / "serving-ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        client_ca_cert=directory / "client-ca.crt",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        controller_manager_cert=directory / "kube-controller-manager.crt",
        controller_manager_key=directory / "kube-controller-manager.key",
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
    )

    serving_ca, serving_ca_key = _ca("ecr-operator-devenv-serving-ca")
    _write_cert(pki.serving_ca_cert, serving_ca)
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
    ]
    serving, serving_key = _leaf(
        _name("kube-apiserver"), serving_ca, serving_ca_key, ExtendedKeyUsageOID.SERVER_AUTH, sans
    )
    _write_cert(pki.serving_cert, serving)
    _write_key(pki.serving_key, serving_key)

    client_ca, client_ca_key = _ca("ecr-operator-devenv-client-ca")
    _write_cert(pki.client_ca_cert, client_ca)
    admin, admin_key = _leaf(
        _name(admin_user, "system:masters"), client_ca, client_ca_key, ExtendedKeyUsageOID.CLIENT_AUTH
    )
    _write_cert(pki.admin_cert, admin)
    _write_key(pki.admin_key, admin_key)
    # The user the bootstrap ClusterRoleBinding system:kube-controller-manager names: enough to run its
    # informers and to get a token per controller (--use-service-account-credentials), as kubeadm sets it up.
    controller_manager, controller_manager_key = _leaf(
        _name("system:kube-controller-manager"), client_ca, client_ca_key, ExtendedKeyUsageOID.CLIENT_AUTH
    )
    _write_cert(pki.controller_manager_cert, controller_manager)
    _write_key(pki.controller_manager_key, controller_manager_key)

    sa_key = _new_key()
    _write_key(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki
