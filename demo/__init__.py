"""`retail-hub demo`: the whole system on one machine, outside the product packages."""
