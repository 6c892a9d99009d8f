"""Invoice pages for payments the local gateway took (Stripe's have their own hosted page)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from application.billing.money import format_money
from application.billing.ports import Account
from domain.billing.model import Payment


class JinjaInvoicePages:
    def __init__(self, seller: str = "Parley") -> None:
        self._env = Environment(
            loader=PackageLoader("adapters.invoices", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )
        self._seller = seller

    def render(self, payment: Payment, account: Account, tax_rate_percent: float = 0.0) -> str:
        """Amounts are tax-inclusive: with a tax rate configured, the tax line shows the part of the total
        that is tax."""
        tax_cents = round(payment.amount_cents * tax_rate_percent / (100 + tax_rate_percent)) if tax_rate_percent else 0

        def money(cents: int) -> str:
            return format_money(cents, payment.currency)

        return self._env.get_template("invoice.html").render(
            seller=self._seller,
            number=payment.invoice_number,
            issued=f"{payment.created_at:%Y-%m-%d}",
            period=f"{payment.period_start:%Y-%m-%d} to {payment.period_end:%Y-%m-%d}",
            plan=payment.plan or "",
            customer="a deleted account" if account.deleted else account.name or account.email,
            email=None if account.deleted else account.email,
            lines=[(line.description, money(line.amount_cents)) for line in payment.lines],
            subtotal=money(payment.amount_cents - tax_cents),
            tax=money(tax_cents) if tax_rate_percent else None,
            tax_rate=f"{tax_rate_percent:g}%",
            total=money(payment.amount_cents),
            status=payment.status.value,
        )
