"""Where things are in the checkout."""

from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPOSITORY_ROOT / "deploy" / "local" / "kafka"
DEPLOY_DIR = REPOSITORY_ROOT / "deploy"
