"""What the store keeps, as plain immutable records: below the store, so that every layer above
it (domain, iam, gateway, transfer) shares one definition without importing an engine."""
