"""Money as integer minor units (cents) with a lower-case ISO currency code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Money:
    cents: int
    currency: str = "usd"

    def __post_init__(self) -> None:
        if not isinstance(self.cents, int):
            raise TypeError("Money.cents must be an int")
        if self.currency != self.currency.lower() or len(self.currency) != 3:
            raise ValueError("currency must be a lower-case ISO 4217 code")

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError("cannot add different currencies")
        return Money(self.cents + other.cents, self.currency)
