"""The fault lab as a script: ``python scripts/chaos.py ARGS`` is ``zafka chaos ARGS``.

Run from the repository root::

    .venv/bin/python scripts/chaos.py [--duration 60] [--interval 2] [--seed N] [--faults kill,pause,broker,controller]

It starts its own cluster in a temp dir, produces with ``--acks`` checking every
acknowledgement, applies a seeded schedule of faults, reads every partition back
and prints the verdict; exit 1 when anything acknowledged was lost, reordered or
found at a wrong offset. The code is ``scripts/cli/chaos.py`` (the run) and
``scripts/cli/faultlab.py`` (schedule, verdict, failovers); docs/fault-lab.md is
the tour. ``make test-slow`` runs the long lab run of ``tests/integration/test_chaos.py``.

Importing this file does nothing but make the repository importable: the actors'
forkserver re-imports the main module in each actor process.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv: list[str] | None = None) -> int:
    from scripts.cli.main import main as zafka

    return zafka(["chaos", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
