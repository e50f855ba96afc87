"""Price publication accuracy: how many sale lines each store sent, and how many its agent
flagged as priced otherwise than the store's catalog at the sale's instant
(SaleLine.catalog_price), per store and SKU. Counted in the transaction that applies the sales,
so each line counts once.
"""

from collections import Counter
from collections.abc import Iterable
from typing import Any

from hub.storage import Reads, Transaction
from hub.storage.store_catalogs import Deviation
from protocol.messages import Envelope, Sale


def count(tx: Transaction, applied: Iterable[Envelope]) -> None:
    """Count the sale lines of `applied` (events applied just now) and their deviations."""
    lines: dict[str, list[int]] = {}
    found: dict[tuple[str, str], Deviation] = {}
    per_pair: Counter[tuple[str, str]] = Counter()
    for env in applied:
        sale = env.event
        if not isinstance(sale, Sale):
            continue
        totals = lines.setdefault(env.store_id, [0, 0])
        totals[0] += len(sale.lines)
        for line in sale.lines:
            if line.catalog_price is None:
                continue
            totals[1] += 1
            key = (env.store_id, line.sku)
            per_pair[key] += 1
            found[key] = Deviation(env.store_id, line.sku, 0, env.occurred_at.isoformat(),
                                   str(line.unit_price), str(line.catalog_price))
    if lines:
        tx.store_catalogs.count_sale_lines(
            {store: (n, d) for store, (n, d) in lines.items()},
            [d._replace(lines=per_pair[key]) for key, d in found.items()])


async def accuracy(reads: Reads) -> dict[str, dict[str, Any]]:
    """Per store: sale lines, deviating lines, and the share priced as published."""
    return {store: {"lines": n, "deviations": d,
                    "accuracy": round(1 - d / n, 4) if n else None}
            for store, (n, d) in sorted((await reads.store_catalogs.sale_lines()).items())}


async def worst(reads: Reads, limit: int = 20) -> list[dict[str, Any]]:
    """The store and SKU pairs with the most deviating sale lines, and the last of them."""
    return [d._asdict() for d in await reads.store_catalogs.deviations(limit=limit)]
