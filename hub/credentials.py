"""The broker's users file: `username:argon2-hash` lines, as amqtt's file auth reads them."""

import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher

from hub.errors import CredentialsError

# Store passwords are random 192-bit tokens (new_password), never chosen by people: no hash
# cost makes guessing them any harder, while every login pays it. argon2id at 8 MiB and one
# pass verifies in ~4 ms here, against ~110 ms for argon2-cffi's defaults: 200 stores logging in
# at once after a hub restart took 24 s, now 1.4 s (`python -m bench.logins`). Hashes made with
# other parameters still verify.
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


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
