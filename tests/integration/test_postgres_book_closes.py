"""An opening and a close of every account at once, on PostgreSQL (issue 13): at READ
COMMITTED each transaction could miss the other's uncommitted write (the fan-out reads the
index without the account, the opening reads the book without the close), so they share
an advisory lock, and neither misses the other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from tests.support import opened
from tests.unit.book_kit import Book, day, runtime_at, star
from tests.unit.test_accounts_book_closes import (
    fan_out_while_an_opening_runs,
    opening_while_a_fan_out_runs,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("scenario", [opening_while_a_fan_out_runs, fan_out_while_an_opening_runs])
async def test_an_opening_and_a_fan_out_at_once_never_miss_each_other(
    scenario: Callable[[Book], Awaitable[None]], pg_database: str, tmp_path: Path
) -> None:
    book = Book(await runtime_at(tmp_path, database_url=pg_database))
    try:
        await scenario(book)
        await book.drain()
        for account in ("A", "L"):
            assert await book.closes(account) == [day(5)]
    finally:
        await book.runtime.engine.dispose()


async def test_without_the_lock_the_account_is_missed(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the lock is there: the very interleaving, unguarded, loses the account."""

    async def unguarded(self: AccountsUnitOfWork, *, exclusive: bool) -> None:
        return None

    monkeypatch.setattr(AccountsUnitOfWork, "order_with_fan_outs", unguarded)
    book = Book(await runtime_at(tmp_path, database_url=pg_database))
    try:
        async with book.runtime.uow() as uow:
            await book.handler(uow, book.envelope(opened("L")))
            await uow.flush()  # L is in the index, uncommitted; the book had no close
            await asyncio.wait_for(book.apply(star(5)), 5)  # reads the index without L
            await uow.commit()
        await book.drain()
        assert await book.closes("L") == []
    finally:
        await book.runtime.engine.dispose()
