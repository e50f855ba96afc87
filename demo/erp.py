"""The demo's ERP: a real Tryton on SQLite beside the hub, when Tryton is installed.

The database is built once (about 20 s) into `<data_dir>-erp-template/` and reused by later
demos; each demo posts into a fresh copy of it. Without Tryton installed the demo runs with
`connector = "none"` (postings are kept at the hub, nothing is sent).
"""

import importlib.util
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from demo import folder as demo_folder

if TYPE_CHECKING:
    from tryton_retail_sync.server import TrytonServer

TEMPLATE_STORES = [f"S{i:03d}" for i in range(1, 21)]
BUILT_FOR = "built-for.json"  # also marks a template an older demo made


def available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("trytond", "tryton_retail_sync"))


class DemoErp:
    def __init__(self, template: Path, workdir: Path, skus: list[str]) -> None:
        self.template = template
        self.workdir = workdir
        self.skus = skus
        self.server: TrytonServer | None = None

    def check_template(self) -> None:
        """Raise demo_folder.NotTheDemos if the template's folder holds something else."""
        demo_folder.check(self.template, (demo_folder.MARK, BUILT_FOR))

    def start(self) -> str:
        """Build the template if needed, start trytond on a fresh copy; returns its URL."""
        from tryton_retail_sync import database
        from tryton_retail_sync.server import TrytonServer

        marker = self.template / BUILT_FOR
        wanted = {"stores": TEMPLATE_STORES, "skus": self.skus}
        if not marker.exists() or json.loads(marker.read_text()) != wanted:
            print("demo: building the Tryton ERP database once (about 20 s)...", flush=True)
            demo_folder.remake(self.template, (demo_folder.MARK, BUILT_FOR))
            database.build(self.template, TEMPLATE_STORES, self.skus)
            marker.write_text(json.dumps(wanted))
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.server = TrytonServer(self.template, self.workdir)
        return self.server.start()

    def config(self) -> str:
        """The hub's [erp] and [postings] sections for this ERP."""
        assert self.server is not None
        return (f'[erp]\nconnector = "tryton"\nurl = "{self.server.url}"\n'
                f'database = "{self.server.db}"\nusername = "hub"\n'
                f'password_file = "{self.server.hub_password_file}"\nrate_limit_per_s = 3\n'
                # Tryton posts ~3 sales/s: sales go as one summary per store-day, returns singly.
                # Goods receipts stay in the hub's inventory: the connector posts POS sales only.
                '[postings]\nsales = "daily_summary"\nreturns = "per_transaction"\n'
                'inventory_adjustments = "none"\n')

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
