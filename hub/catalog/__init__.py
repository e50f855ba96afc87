"""Items and prices down to the stores: master data, validation, publication, what a store gets."""
