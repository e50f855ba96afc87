"""The JSON bodies of the catalog API (and the rows of an items CSV) as Structs, decoded with
errors that name the field. Their shape is checked here; the rules that need the database (an
unknown SKU, a clash with a published price) are checked by hub.catalog.validation and
hub.catalog.master.
"""

import csv
import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from hub.errors import CatalogError
from protocol import rules
from runtime.validation import describe

T = TypeVar("T")

MAX_ITEMS = 10_000  # per PUT /v1/items; larger sets in several calls or `catalog import`
MAX_CHANGES = 10_000  # per change set
MAX_STORES = 100_000  # per group, book or publication
NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # a store, group or book: it may end up in a topic or path

Text = Annotated[str, Meta(pattern=rules.TEXT_PATTERN)]
Name = Annotated[str, Meta(pattern=NAME_PATTERN)]
Id = Annotated[str, Meta(pattern=ID_PATTERN)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Priority = Annotated[int, Meta(ge=-1_000_000, le=1_000_000)]
Stores = Annotated[list[Id], Meta(max_length=MAX_STORES)]


class Price(Decimal):
    """A price as the API writes amounts (docs/api.md): a decimal string, or a JSON number read
    exactly from its text; its bounds are checked with the change (hub.catalog.validation)."""


class _Number(str):
    """The text of a JSON number, so that a price is never read through a float."""


def _hook(kind: type, value: Any) -> Any:
    if kind is Price and isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if rules.AMOUNT_TEXT.fullmatch(text):
            return Price(text)
        raise ValueError(f"a price is written -?[0-9]+(.[0-9]+)?, e.g. \"12.00\", not {text[:40]!r}")
    if kind is Price:
        raise TypeError(f"Expected `decimal`, got `{type(value).__name__}`")
    raise NotImplementedError(kind)


class ItemIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    name: Name
    active: bool
    barcode: Text | None = None
    unit: Text | None = None
    tax_class: Text | None = None


Items = Annotated[list[ItemIn], Meta(max_length=MAX_ITEMS)]


class GroupIn(Struct, frozen=True, forbid_unknown_fields=True):
    stores: Stores


class BookIn(Struct, frozen=True, forbid_unknown_fields=True):
    currency: Currency
    priority: Priority
    stores: Stores | Literal["all"] = msgspec.field(default_factory=list)
    groups: Annotated[list[Id], Meta(max_length=10_000)] = msgspec.field(default_factory=list)


class ChangeIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    price: Price
    effective_from: dt.datetime
    effective_to: dt.datetime | None = None


class ChangeSetIn(Struct, frozen=True, forbid_unknown_fields=True):
    changes: Annotated[list[ChangeIn], Meta(min_length=1, max_length=MAX_CHANGES)]
    force: bool = False


class PublicationIn(Struct, frozen=True, forbid_unknown_fields=True):
    """`stores` "all" or a list, and/or `groups`; or `rollback_to` a kept version (its targets
    default to every store)."""

    stores: Stores | Literal["all"] | None = None
    groups: Annotated[list[Id], Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    note: Annotated[str, Meta(max_length=500)] | None = None
    rollback_to: Annotated[int, Meta(ge=1)] | None = None


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t, dec_hook=_hook, float_hook=_Number)
    for t in (Items, GroupIn, BookIn, ChangeSetIn, PublicationIn)
}


def decode(body: bytes, kind: Any) -> Any:
    """Decode a JSON body into `kind` (Items, GroupIn, BookIn, ChangeSetIn, PublicationIn), or
    raise CatalogError naming the field."""
    try:
        return _decoders[kind].decode(body or b"null")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, field = describe(exc)
        raise CatalogError(message, field) from exc


def check_id(value: str, field: str) -> str:
    """A store, group or book name taken from a path: CatalogError unless it is 1-64 of
    A-Z a-z 0-9 _ . -."""
    try:
        return msgspec.convert(value, Id)
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{field} must be 1-64 of A-Z a-z 0-9 _ . -", field) from exc


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}
CSV_COLUMNS = ("sku", "name", "barcode", "unit", "tax_class", "active")


def csv_items(reader: "csv.DictReader[str]") -> tuple[list[ItemIn], list[int]]:
    """Every item of a CSV with a header, and the line each starts on. Columns: sku and name,
    and optionally barcode, unit, tax_class and active (true/false, 1/0, yes/no; default
    true); an empty cell is no value. CatalogError naming `line N: column` for a row that is
    not an item, or a header that names another column."""
    header = reader.fieldnames or []
    if "sku" not in header or "name" not in header:
        raise CatalogError("the first line must name the columns, sku and name among them: "
                           f"{', '.join(CSV_COLUMNS)}", "line 1")
    for column in header:
        if column not in CSV_COLUMNS:
            raise CatalogError(f"unknown column {column!r}; the columns are "
                               f"{', '.join(CSV_COLUMNS)}", f"line 1: {column}")
    items: list[ItemIn] = []
    lines: list[int] = []
    start = reader.line_num + 1
    for row in reader:
        if None in row:
            raise CatalogError(f"more cells than the header's {len(header)} columns",
                               f"line {start}")
        fields: dict[str, Any] = {k: v.strip() for k, v in row.items() if v and v.strip()}
        active = fields.get("active", "true").lower()
        if active not in _TRUE | _FALSE:
            raise CatalogError("active must be true or false", f"line {start}: active")
        fields["active"] = active in _TRUE
        try:
            items.append(msgspec.convert(fields, ItemIn))
        except msgspec.ValidationError as exc:
            message, field = describe(exc)
            raise CatalogError(message, f"line {start}: {field}") from exc
        lines.append(start)
        start = reader.line_num + 1
    return items, lines
