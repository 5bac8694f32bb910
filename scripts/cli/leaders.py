"""``zafka leaders elect --preferred``: leadership back to each partition's first replica, on demand."""

from __future__ import annotations

from . import main as cli
from .output import info


def elect(args) -> int:
    from wire import Admin

    if not args.preferred:
        raise cli.UsageError("only --preferred elections exist: unclean ones follow unclean.leader.election.enable")
    admin = Admin(bootstrap=cli.bootstrap(args))
    try:
        elected, skipped = admin.elect_preferred_leaders(args.topic)
    finally:
        admin.close()
    for name in elected:
        info(f"{name}: now led by its preferred replica")
    for line in skipped:
        if "already led" not in line or args.verbose_skips:
            info(line)
    info(f"{len(elected)} partition{'s' if len(elected) != 1 else ''} moved to their preferred leader")
    return 0
