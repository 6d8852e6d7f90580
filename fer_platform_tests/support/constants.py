"""Constants the tests share (imported from here, never from conftest.py or another test module)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_EMOTIONS = ("angry", "happy", "sad")
# Azurite's documented development account: public, not a secret.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
