"""Formatting integer cents for people (emails, invoices)."""

from __future__ import annotations

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def format_money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    symbol = SYMBOLS.get(currency)
    amount = f"{whole:,}.{part:02d}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"
