"""Amounts of a sale or return: net, tax and gross, exactly (Decimal, never float).

Part of the contract: agent and hub must agree on what "gross" of a transaction means.
"""

from decimal import Decimal

from protocol.messages import ReturnLine, SaleLine


def line_amounts(line: SaleLine | ReturnLine, prices_include_tax: bool) -> tuple[Decimal, Decimal, Decimal]:
    """(net, tax, gross) of a line. `discount` and `tax` are the line's totals.

    With prices_include_tax, qty x unit_price - discount is the gross and tax is inside it;
    otherwise it is the net and tax comes on top.
    """
    extended = line.qty * line.unit_price - line.discount
    if prices_include_tax:
        return extended - line.tax, line.tax, extended
    return extended, line.tax, extended + line.tax


def gross_total(lines: "list[SaleLine] | list[ReturnLine]", prices_include_tax: bool) -> Decimal:
    """What the customer pays (sale) or gets back (return) for these lines."""
    return sum((line_amounts(line, prices_include_tax)[2] for line in lines), Decimal(0))
