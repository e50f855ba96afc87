"""TLS contexts for MQTT (`mqtts://`): clients verify the broker against a CA, brokers may ask
clients for a certificate. Every unreadable or wrong file is a ConfigError naming its key."""

import ssl
from pathlib import Path

from runtime.config import ConfigError


def client_context(*, ca_file: str | None, cert_file: str | None, key_file: str | None,
                   path: str, section: str) -> ssl.SSLContext:
    """Verify the broker's certificate and host name against `ca_file` (the system's CAs when
    None); present `cert_file`/`key_file` as the client's own certificate when both are set."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(path, f"{section}.ca_file", f"cannot use {ca_file} as CA ({_why(exc)})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pair(context, cert_file, key_file, path=path, section=section, prefix="")
    return context


def server_context(*, cert_file: str, key_file: str, client_ca_file: str | None,
                   require_client_cert: bool, path: str, section: str) -> ssl.SSLContext:
    """A broker listener's context: its certificate, and the CA client certificates must chain to."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pair(context, cert_file, key_file, path=path, section=section, prefix="tls_")
    if client_ca_file:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(path, f"{section}.tls_client_ca_file",
                              f"cannot use {client_ca_file} as CA ({_why(exc)})") from exc
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ConfigError(path, f"{section}.tls_client_ca_file",
                          "required when tls_require_client_cert = true")
    return context


def _load_pair(context: ssl.SSLContext, cert_file: str | None, key_file: str | None, *,
               path: str, section: str, prefix: str) -> None:
    if cert_file is None and key_file is None:
        return
    if cert_file is None or key_file is None:
        missing = "cert_file" if cert_file is None else "key_file"
        raise ConfigError(path, f"{section}.{prefix}{missing}", "cert_file and key_file go together")
    for key, file in (("cert_file", cert_file), ("key_file", key_file)):
        if not Path(file).is_file():
            raise ConfigError(path, f"{section}.{prefix}{key}", f"cannot read {file}")
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(path, f"{section}.{prefix}cert_file",
                          f"{cert_file} and {key_file} are not a usable certificate and key "
                          f"({_why(exc)})") from exc


def _why(exc: Exception) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
