"""The services' repository port contracts on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.accounts_contract import AccountsPortsContract, Units, sql_units
from tests.contract.audit_contract import AuditPortsContract, Seed
from tests.contract.audit_contract import Units as AuditUnits
from tests.contract.audit_contract import sql_units as audit_sql_units
from tests.contract.contact_contract import ContactPortsContract
from tests.contract.contact_contract import Units as ContactUnits
from tests.contract.contact_contract import sql_units as contact_sql_units

pytestmark = pytest.mark.integration


class TestPostgresAccountsPorts(AccountsPortsContract):
    @pytest.fixture
    async def units(self, pg_database: str) -> AsyncIterator[Units]:
        async for units in sql_units(pg_database):
            yield units


class TestPostgresAuditPorts(AuditPortsContract):
    @pytest.fixture
    async def units(self, pg_database: str) -> AsyncIterator[tuple[AuditUnits, Seed]]:
        async for units in audit_sql_units(pg_database):
            yield units


class TestPostgresContactPorts(ContactPortsContract):
    @pytest.fixture
    async def units(self, pg_database: str) -> AsyncIterator[ContactUnits]:
        async for units in contact_sql_units(pg_database):
            yield units
