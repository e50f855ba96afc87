"""The configured ERP connector, built from the hub's config: the one place that knows them all."""

from hub.config import HubConfig
from hub.erp.base import Connector, ErpProducts
from hub.errors import ErpUnavailable


def make_connector(config: HubConfig) -> Connector | None:
    """The configured ERP connector, or None for `connector = "none"` (postings are only kept)."""
    erp = config.erp
    if erp.connector == "http-json":
        from hub.erp.http_json import HttpJsonConnector

        return HttpJsonConnector(erp.url, config.erp_secret("token_file"), erp.timeout_s)
    if erp.connector == "tryton":
        from hub.erp.tryton import TrytonConnector

        password = config.erp_secret("password_file")
        assert password is not None
        return TrytonConnector(erp.url, erp.database, erp.username, password, erp.timeout_s)
    return None


async def read_products(config: HubConfig) -> ErpProducts:
    """The ERP's saleable products and list prices (hub.catalog.erp_sync); ErpUnavailable when
    it cannot be read. Only the tryton connector reads products (hub.config refuses
    `[catalog] erp_sync` for others)."""
    from hub.erp.tryton import TrytonConnector

    connector = make_connector(config)
    if not isinstance(connector, TrytonConnector):
        raise ErpUnavailable(f"[erp] connector = {config.erp.connector!r} cannot read products: "
                             "the catalog sync needs \"tryton\"")
    await connector.start()
    try:
        return await connector.products()
    finally:
        await connector.close()
