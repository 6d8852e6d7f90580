"""Dagster definitions, one folder per stage; every module here is loaded by ``load_from_defs_folder``."""
