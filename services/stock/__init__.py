"""The stock service: on-hand quantity per shop × product, folded from sales, refunds, deliveries,
counts and waste, with reorder points and alerts. The domain (`ledger`) is pure."""
