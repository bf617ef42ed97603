"""`python -m bench [--smoke] [--only triage,escalate,lateness,scale] [--out FILE]`

Prints one JSON document on stdout (progress goes to stderr). `--smoke` (or BENCH_SMOKE=1)
runs every figure at a tiny size: what the test suite does to keep the bench from rotting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.run import PHASES, SMOKE, Sizes, run
from bench.stack import SERVER_CONFIG, BenchTemporal

_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", default=bool(os.environ.get("BENCH_SMOKE")))
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated: {PHASES}")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument("--budget", type=float, default=870.0, help="seconds for the whole run")
    parser.add_argument("--sizes", default="{}", help='JSON overrides, e.g. {"scale": 1000}')
    parser.add_argument("--tuning", default="{}", help="JSON: worker knobs (bench/worker.py)")
    parser.add_argument(
        "--server-config",
        default="{}",
        help="JSON: dev server dynamic config, over bench.stack.SERVER_CONFIG",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the workers into this folder")
    args = parser.parse_args(argv)
    phases = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := phases - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    overrides = json.loads(args.sizes)
    if "throughput" in overrides:
        overrides["throughput"] = tuple(overrides["throughput"])
    sizes = replace(SMOKE if args.smoke else Sizes(), **overrides)
    BenchTemporal.dynamic_config = {**SERVER_CONFIG, **json.loads(args.server_config)}
    report = asyncio.run(
        run(
            sizes,
            phases,
            progress,
            smoke=args.smoke,
            budget=args.budget,
            profile_dir=args.profile,
            tuning=json.loads(args.tuning),
        )
    )
    report["wallSec"] = round(time.perf_counter() - _T0, 1)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
