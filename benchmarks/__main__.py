"""`python -m sharegraph.benchmarks`: the same run as `sharegraph bench`, plus --scenario."""

from __future__ import annotations

import argparse

from sharegraph.benchmarks.run import SCENARIOS, main


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sharegraph.benchmarks",
        description="Latency and throughput of the main query shapes through the real HTTP stack.",
    )
    parser.add_argument("--scale", type=int, default=10, help="demo data scale (default 10)")
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per scenario (default 200)"
    )
    parser.add_argument(
        "--database", default=None, help="database URL (default var/bench-<scale>.db)"
    )
    parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.name for s in SCENARIOS],
        help="run only this scenario (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.scale < 1 or args.requests < 10:
        parser.error("--scale must be at least 1 and --requests at least 10")
    main(
        scale=args.scale,
        requests=args.requests,
        database=args.database,
        as_json=args.as_json,
        scenarios=args.scenario,
    )


if __name__ == "__main__":
    cli()
