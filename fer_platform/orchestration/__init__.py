"""Dagster pieces two or more stages share: resources, the settings a load is for, partitions, names, automation
and UI metadata."""
