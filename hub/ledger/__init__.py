"""What the hub knows of each store: inventory, business-day totals, fleet state."""
