"""Errors of the hub.

    HubError
    └── CredentialsError   a users file that cannot be read or written
"""


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class CredentialsError(HubError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
