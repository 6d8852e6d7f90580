"""Stage 3, replica: azure_replica, its checksum checks, and the initial_migration job (pg_dump/pg_restore)."""
