"""Available to sell per channel: safety stock, reservations that never oversell, the change feed."""
