"""The integrators' and services' event contracts, gathered into one catalogue."""

from __future__ import annotations

from functools import cache

from shared.catalogue import Catalogue
from shared.events import accounts, audit, contact, inbound, plans


@cache
def default_catalogue() -> Catalogue:
    """The catalogue of every event arrears publishes or accepts."""
    catalogue = Catalogue()
    for module in (inbound, accounts, plans, contact, audit):
        for model in module.MODELS:
            catalogue.register(model)
        for (event_type, version), fn in module.UPCASTERS.items():
            catalogue.register_upcaster(event_type, version, fn)
    return catalogue
