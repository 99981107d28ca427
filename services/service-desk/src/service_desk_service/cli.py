"""``service-desk serve`` and ``service-desk import FILE``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from department_kit.cli import main as run
from service_desk_service.department import SPEC


def main(argv: Sequence[str] | None = None) -> int:
    """The service desk service's command line."""
    return run(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
