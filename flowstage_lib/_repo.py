"""The repository root (the one definition): where ``book/``, ``data/`` and ``results/`` live."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
