"""PostgreSQL connections shared by every stage: DSNs (Azure defaults), the embedded server, connecting."""
