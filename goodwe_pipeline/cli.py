"""The ``goodwe-pipeline`` console script.

Each subcommand lives in ``goodwe_pipeline/commands/<name>.py`` and exposes
``HELP`` (one line), optionally ``EPILOG`` (shown after the options in ``--help``),
``add_arguments(parser)`` and ``run(args) -> int``; underscores in module names become dashes on the command line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from goodwe_pipeline import commands
from goodwe_pipeline.common import settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="goodwe-pipeline",
        description="GoodWe solar + battery pipeline: tools around the Dagster project.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        sub = subparsers.add_parser(
            info.name.replace("_", "-"),
            help=module.HELP,
            description=module.HELP,
            epilog=getattr(module, "EPILOG", None),
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except settings.SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
