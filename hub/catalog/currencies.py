"""ISO 4217 currencies and their minor units: how many decimals a price in each may have.

The table holds the active codes (ISO 4217, amendment 179 of 2025) that have minor units; codes
without (precious metals, testing codes) are not prices a till can ring up.
"""

from decimal import Decimal

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN"
    " BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD"
    " FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD"
    " KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD"
    " NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP"
    " SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS"
    " VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)
MINOR_UNITS: dict[str, int] = {
    code: units for units, codes in ((0, _ZERO), (2, _TWO), (3, _THREE), (4, _FOUR))
    for code in codes.split()
}


def minor_units(currency: str) -> int | None:
    """Decimals a price in `currency` may have; None for a code this table does not know."""
    return MINOR_UNITS.get(currency)


def fits(amount: Decimal, currency: str) -> bool:
    """Whether `amount` has no more decimals than `currency` allows (trailing zeros aside:
    12.500 is 12.50 in EUR)."""
    units = MINOR_UNITS[currency]
    return amount == amount.quantize(Decimal(1).scaleb(-units))


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """`amount` written with exactly the currency's decimals (it must fit)."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))
