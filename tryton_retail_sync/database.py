"""Build a ready-to-post Tryton database on SQLite: company, chart, periods, products, sale points.

`build()` is what `make demo` and the Tryton tests call (once; the result is a template that is
copied per run). It runs `trytond-admin` and then this module's `setup` step in subprocesses,
because trytond and proteus keep process-wide state.

What it creates, following sale_point's own scenarios: an EUR company with a minimal chart of
accounts, fiscal years last year to next year with periods, a 20 % VAT included in prices, one
goods product per SKU (product code = SKU), one `sale.point` per store (named by store id) with a
strict "POS" sequence, the payment methods `cash` and `card`, and the machine user `hub` with only
the POS groups.
"""

import argparse
import datetime as dt
import os
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

DB = "retail"
HUB_LOGIN = "hub"


def config_text(directory: Path, port: int = 8000) -> str:
    return (f"[database]\nuri = sqlite://\npath = {directory}\n\n"
            f"[web]\nlisten = 127.0.0.1:{port}\n\n"
            "[session]\nmax_attempt = 50\n")


def build(directory: Path, stores: list[str], skus: list[str], db: str = DB) -> Path:
    """Create `directory/<db>.sqlite` and the hub user's password file; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "trytond.conf"
    conf.write_text(config_text(directory))
    admin = directory / "admin-password"
    admin.write_text(secrets.token_urlsafe(16))
    hub = directory / "hub-password"
    hub.write_text(secrets.token_urlsafe(16))
    for secret in (admin, hub):
        secret.chmod(0o600)
    for suffix in ("", "-wal", "-shm"):
        (directory / f"{db}.sqlite{suffix}").unlink(missing_ok=True)
    (directory / f"{db}.sqlite").touch()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "TRYTONPASSFILE": str(admin)}
    subprocess.run([str(bindir / "trytond-admin"), "-c", str(conf), "-d", db,
                    "-u", "sale_point", "retail_sync", "--activate-dependencies",
                    "--email", "admin@example.com"],
                   env=env, stdin=subprocess.DEVNULL, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "tryton_retail_sync.database", "--config", str(conf),
                    "--db", db, "--stores", ",".join(stores), "--skus", ",".join(skus),
                    "--hub-password-file", str(hub)],
                   check=True, capture_output=True)
    return directory


def _setup(config_file: str, db: str, stores: list[str], skus: list[str], hub_password: str) -> None:
    from proteus import Model
    from proteus import config as pconfig
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        create_tax,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import set_fiscalyear_invoice_sequences
    from trytond.modules.company.tests.tools import create_company, get_company

    pconfig.set_trytond(database=db, config_file=config_file)
    create_company(currency="EUR")
    company = get_company()
    create_chart(company)
    year = dt.date.today().year
    for y in (year - 1, year, year + 1):
        fiscalyear = set_fiscalyear_invoice_sequences(
            create_fiscalyear(company, (dt.date(y, 1, 1), dt.date(y, 12, 31))))
        fiscalyear.click("create_period")
    accounts = get_accounts(company)
    tax = create_tax(Decimal("0.20"), company)
    tax.save()

    Category = Model.get("product.category")
    Template = Model.get("product.template")
    Uom = Model.get("product.uom")
    category = Category(name="Retail goods", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.customer_taxes.append(tax)
    category.save()
    unit, = Uom.find([("name", "=", "Unit")])
    for sku in skus:
        template = Template(name=sku, code=sku, default_uom=unit, type="goods", salable=True,
                            account_category=category)
        template.gross_price = Decimal("1.0000")
        template.save()

    Journal = Model.get("account.journal")
    Location = Model.get("stock.location")
    Point = Model.get("sale.point")
    Sequence = Model.get("ir.sequence.strict")
    SequenceType = Model.get("ir.sequence.type")
    revenue, = Journal.find([("type", "=", "revenue")], limit=1)
    storage, = Location.find([("code", "=", "STO")])
    customer, = Location.find([("code", "=", "CUS")])
    incoming, = Location.find([("code", "=", "IN")])
    pos_type, = SequenceType.find([("name", "=", "POS")], limit=1)
    for store in stores:
        point = Point(name=store, journal=revenue, storage_location=storage,
                      customer_location=customer, return_location=incoming)
        point.sequence = Sequence(name=f"POS {store}", company=company, sequence_type=pos_type)
        point.sequence.save()
        point.save()

    Method = Model.get("sale.point.payment.method")
    Method(name="cash", account=accounts["cash"], cash=True).save()
    card_account, = accounts["cash"].duplicate(default={"name": "Card clearing"})
    Method(name="card", account=card_account).save()

    Group = Model.get("res.group")
    User = Model.get("res.user")
    user = User(login=HUB_LOGIN, name="Retail hub", password=hub_password)
    user.groups.extend(Group.find([("name", "in", ["POS", "POS Posting"])]))
    user.companies.append(company)
    user.company = company
    user.save()


def main() -> None:
    p = argparse.ArgumentParser(description="set up a Tryton database for the retail hub")
    p.add_argument("--config", required=True)
    p.add_argument("--db", default=DB)
    p.add_argument("--stores", required=True)
    p.add_argument("--skus", required=True)
    p.add_argument("--hub-password-file", required=True)
    args = p.parse_args()
    _setup(args.config, args.db, args.stores.split(","), args.skus.split(","),
           Path(args.hub_password_file).read_text().strip())


if __name__ == "__main__":
    main()
