"""The broker's users file: `username:argon2-hash` lines, as amqtt's file auth reads them."""

import contextlib
import os
import pwd
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
    """Replace the users file atomically (write, fsync, rename), keeping its owner, group and
    mode: `retail-hub stores` run as root must leave it readable by the hub's service user. A
    new file is mode 0600 and, made by root, owned like its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        st = path.stat()
        mode, owner, existed = st.st_mode & 0o777, (st.st_uid, st.st_gid), True
    except FileNotFoundError:
        folder = path.parent.stat()
        mode, owner, existed = 0o600, (folder.st_uid, folder.st_gid), False
    tmp = path.with_suffix(path.suffix + ".tmp")
    body = "".join(f"{name}:{digest}\n" for name, digest in sorted(users.items()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            _take_owner(f.fileno(), path, owner, existed)
            os.fchmod(f.fileno(), mode)
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _take_owner(fd: int, path: Path, owner: tuple[int, int], existed: bool) -> None:
    uid, gid = owner
    if os.geteuid() == 0:
        os.fchown(fd, uid, gid)
    elif existed and uid != os.geteuid():
        name = _user_name(uid)
        raise CredentialsError(str(path), f"owned by {name}: run this as that user "
                               f"(sudo -u {name} retail-hub stores ...) or as root")
    elif existed:
        with contextlib.suppress(PermissionError):  # the old group may not be ours to give
            os.fchown(fd, -1, gid)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def set_password(path: Path | str, username: str, password: str) -> None:
    users = read_users(path)
    users[username] = _hasher.hash(password)
    write_users(path, users)


def dummy_hash() -> str:
    """A hash made like a store's, of no password anyone has: what an unknown username is
    checked against, so that refusing it takes as long as refusing a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(24))


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
