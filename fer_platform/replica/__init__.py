"""Stage 3, replica: the table copied to Azure Database for PostgreSQL (partition sync, pg_dump/pg_restore)."""
