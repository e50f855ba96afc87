"""The configured ERP connector, built from the hub's config: the one place that knows them all."""

from hub.config import HubConfig
from hub.erp.base import Connector


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
