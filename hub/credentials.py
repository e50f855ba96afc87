"""The broker's users file: `username:argon2-hash` lines, as amqtt's file auth reads them."""

import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher

from hub.errors import CredentialsError

_hasher = PasswordHasher()


def read_users(path: Path | str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsError(str(path), f"cannot read users file ({exc.strerror})") from exc
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, digest = line.partition(":")
        if not sep or not name or not digest:
            raise CredentialsError(str(path), f"line {number} is not username:hash")
        users[name] = digest
    return users


def write_users(path: Path | str, users: dict[str, str]) -> None:
    """Replace the users file atomically (write, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    body = "".join(f"{name}:{digest}\n" for name, digest in sorted(users.items()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def set_password(path: Path | str, username: str, password: str) -> None:
    users = read_users(path)
    users[username] = _hasher.hash(password)
    write_users(path, users)


def new_password() -> str:
    return secrets.token_urlsafe(24)


def write_secret(path: Path | str, secret: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
        f.flush()
        os.fsync(f.fileno())
