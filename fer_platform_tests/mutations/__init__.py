"""Deliberate breaks of the product, one per claim of the README's "what it proves" section, and the runner that
shows the tests covering each claim catch them: ``python -m fer_platform_tests.mutations``."""
