"""Recording a paid invoice: once per gateway invoice, with an invoice number, a link, and a receipt."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from application.billing.facts import payment_fact
from application.billing.money import format_money
from application.billing.notices import queue_email
from application.billing.ports import BillingUnitOfWork
from application.shared.facts import FactKind
from domain.billing.model import InvoiceLine, Payment, PaymentStatus, Plan
from domain.billing.ports import GatewayInvoice
from domain.shared.clock import Clock
from domain.shared.ids import new_id

InvoiceLink = Callable[[UUID], str]


async def record_payment(
    uow: BillingUnitOfWork,
    clock: Clock,
    invoice_link: InvoiceLink,
    *,
    user_id: UUID,
    invoice: GatewayInvoice,
    plan: Plan,
    description: str,
    lines: tuple[InvoiceLine, ...] = (),
) -> Payment | None:
    """Store the payment and queue the receipt; None if this gateway invoice was recorded before."""
    if not invoice.paid or await uow.payments.get_by_external_id(invoice.external_id) is not None:
        return None
    number = await uow.payments.next_invoice_number()
    payment_id = new_id()
    payment = Payment(
        id=payment_id,
        user_id=user_id,
        amount_cents=invoice.amount_cents,
        currency=invoice.currency,
        status=PaymentStatus.SUCCEEDED,
        description=description,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        created_at=clock.now(),
        invoice_number=f"PRL-{number:06d}",
        invoice_url=invoice.hosted_url or invoice_link(payment_id),
        external_id=invoice.external_id,
        plan=plan.id,
        lines=lines or (InvoiceLine(description, invoice.amount_cents),),
    )
    await uow.payments.add(payment)
    fact = payment_fact(FactKind.PAYMENT_SUCCEEDED, payment, payment.amount_cents, str(payment.id), payment.created_at)
    await uow.facts.record(fact)
    await queue_email(
        uow,
        clock,
        user_id,
        "payment_receipt",
        amount=format_money(payment.amount_cents, payment.currency),
        plan=plan.name,
        period=f"{payment.period_start:%Y-%m-%d} to {payment.period_end:%Y-%m-%d}",
        invoice_number=payment.invoice_number,
        link=payment.invoice_url,
    )
    return payment
