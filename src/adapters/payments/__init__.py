"""Payment gateway adapters behind billing's `PaymentGateway` port: the local gateway (the embedded default,
which charges nothing real) and Stripe through its official SDK. The composition root picks one."""
