"""Copying the table to the Azure replica (stage 3): partition sync and the pg_dump/pg_restore migration."""
