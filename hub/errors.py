"""Errors of the hub: the one tree every error the hub raises on purpose belongs to.

    HubError
    ├── CredentialsError   a users file that cannot be read or written; names the file
    ├── PostingError       an operator's action on a posting that cannot be done (HTTP 404/409/422);
    │                      names the field
    ├── Rejected           a posting that breaks a governance rule; never sent to the ERP; names the
    │                      part of the posting at fault
    ├── ErpUnavailable     the ERP could not be asked (catalog, periods, read-back)
    ├── UnknownStore       a reconciliation asked for a store the hub does not know (HTTP 404)
    ├── AvailabilityError  a reservation, stock adjustment or feed request that cannot be done
    │   │                  (HTTP 403/404/409/410); names the field
    │   └── Insufficient   not enough available to sell for every line: nothing is held (HTTP 409)
    ├── BadQuery           a dashboard query parameter or an availability API body that cannot
    │                      be used (HTTP 422); also a ValueError; names the field
    ├── DatabaseUnreachable  the hub's PostgreSQL database cannot be reached (exit 3); names its
    │                      URL, never the password
    ├── WriteConflict      a write lost a race with another hub worker's (a deadlock the
    │   │                  database broke): nothing written; try it again
    │   └── StoreBusy      another hub worker is applying this store's events right now: ingest
    │                      tries the batch again shortly; names the store
    ├── TransferRefused    `retail-hub import` into a database that is not empty, or from an
    │                      export of another schema (exit 4)
    └── CatalogError       catalog master data or a publication that cannot be accepted
        │                  (HTTP 422, 404 or 409); names the field
        └── ChangesRefused a price change set refused whole: one reason per refused change

Third-party errors (aiosqlite, psycopg, aiohttp, amqtt) are translated where they are met;
errors that never leave their module (the Tryton connector's `_Refused`, `_Unwell`, ...) stay
private there.
"""


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class CredentialsError(HubError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class PostingError(HubError):
    """An operator's action that cannot be done; `field` names what was wrong, `status` is the
    HTTP status the API answers with."""

    def __init__(self, message: str, field: str = "posting_id", status: int = 409) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class Rejected(HubError):
    """The posting breaks a rule; the message is for a finance user, `field` names the part of
    the posting at fault (a path such as `lines[0].sku`)."""

    def __init__(self, message: str, field: str = "$") -> None:
        super().__init__(message)
        self.field = field


class ErpUnavailable(HubError):
    """The ERP could not be asked (catalog, periods, read-back); the message says why."""


class UnknownStore(HubError):
    """A reconciliation was asked for a store the hub has never heard of nor provisioned."""

    def __init__(self, store_id: str) -> None:
        super().__init__(f"unknown store {store_id!r}: the hub has no such store")
        self.store_id = store_id


class BadQuery(HubError, ValueError):
    """A dashboard query parameter or availability API body that cannot be used: answered 422
    naming `field`."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class AvailabilityError(HubError):
    """A reservation, location adjustment or change-feed request that cannot be done; `field`
    names what was wrong, `status` is the HTTP status, `extra` more of the answer's body."""

    def __init__(self, message: str, field: str, status: int = 409, **extra: object) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
        self.extra = extra


class Insufficient(AvailabilityError):
    """Some line asks for more than is available to sell; `lines` says which and how much there
    is: `[{"sku", "requested", "available"}]`."""

    def __init__(self, lines: list[dict[str, object]]) -> None:
        super().__init__("insufficient", "lines", 409, lines=lines)
        self.lines = lines


class DatabaseUnreachable(HubError):
    """The hub's PostgreSQL database cannot be reached (wrong host, server down, refused login)."""


class WriteConflict(HubError):
    """A write job lost a race with another writer of the same database (several hub workers on
    PostgreSQL) and wrote nothing: trying it again is safe (an API client gets 503)."""

    http_status = 503


class StoreBusy(WriteConflict):
    """Another hub worker's transaction holds this store's lock (hub.ingest.eventlog): nothing
    was written; the batch can be tried again in a moment."""

    def __init__(self, store_id: str) -> None:
        super().__init__(f"store {store_id}: another hub worker is applying its events")
        self.store_id = store_id


class TransferRefused(HubError):
    """An import that would lose or mix data: the target holds data already, or the export is of
    another schema than the target's."""


class CatalogError(HubError):
    """Catalog input that cannot be accepted: `field` names where (a path such as
    `changes[2].price`), `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, field: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class ChangesRefused(CatalogError):
    """A price change set of which some changes break a rule: nothing of it was staged.
    `refusals` holds one {"index", "field", "error"} per refused change, in index order."""

    def __init__(self, refusals: list[dict[str, object]], total: int) -> None:
        first = refusals[0]
        super().__init__(f"{len(refusals)} of {total} price changes refused, nothing staged; "
                         f"the first: {first['error']}", str(first["field"]))
        self.refusals = refusals
