"""Dagster pieces every stage shares: resources, IO managers, partitions, names and UI metadata."""
