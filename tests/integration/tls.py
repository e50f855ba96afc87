"""A certificate authority made in the test (trustme) and the PEM files the processes read."""

from pathlib import Path

import trustme


class TestCa:
    """Writes ca.pem, broker.pem/broker.key (for 127.0.0.1) under `root`; `client(name)` writes
    a client certificate and key for one store."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.ca = trustme.CA(organization_name="retail-sync test CA")
        self.ca_file = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        broker = self.ca.issue_cert("127.0.0.1", "localhost")
        self.cert_file, self.key_file = root / "broker.pem", root / "broker.key"
        broker.cert_chain_pems[0].write_to_path(str(self.cert_file))
        broker.private_key_pem.write_to_path(str(self.key_file))

    def client(self, name: str) -> tuple[Path, Path]:
        cert = self.ca.issue_cert(f"{name}.stores.invalid", common_name=name)
        cert_file, key_file = self.root / f"{name}.pem", self.root / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        return cert_file, key_file
