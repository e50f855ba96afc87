"""The hub's posting_id on POS sales: unique per company, searchable, not copied."""

from trytond.model import Index, Unique, fields
from trytond.pool import PoolMeta


class POSSale(metaclass=PoolMeta):
    __name__ = 'sale.point.sale'

    # Not readonly: Tryton refuses readonly fields in RPC creates, and the hub sets it there.
    reference = fields.Char("Hub Reference",
        help="The retail hub's posting id (its idempotency key).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('reference_unique', Unique(t, t.company, t.reference),
                'retail_sync.msg_reference_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.reference, Index.Equality())))

    @classmethod
    def copy(cls, sales, default=None):
        default = dict(default or {})
        default.setdefault('reference')
        return super().copy(sales, default=default)
