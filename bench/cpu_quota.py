"""Run a command on less CPU than this machine has: a Linux cgroup CPU quota.

    .venv/bin/python -m bench.cpu_quota 0.9 -- .venv/bin/python -m bench.realtime_latency \\
        --speech human --sessions 4 --turns 8

The command and its children may use `cpus` CPUs' worth of time in every `--period-ms`
window, spread over all cores. With 0.9 on a 2-core machine, two busy threads each run at
under half speed: roughly the aggregate of a 2-vCPU Zen 2 VM, on a fast development box.
That is what reproduced, on Zen 5, the 4-session stall first seen on Zen 3 and Zen 2 (a
barge-in cancelling a committed turn's transcript): timing bugs that need slow CPUs show up
here without one. It is not a model of a slow CPU's latency (throttling is bursty, and a
lone thread runs at full speed), so quote figures from it as "under a quota of N CPUs".

Needs root and a cgroup `cpu` controller: v1 (`/sys/fs/cgroup/cpu`) or v2 (`cpu` in
`/sys/fs/cgroup/cgroup.controllers`). The cgroup is removed when the command ends.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def make_cgroup(name: str, cpus: float, period_us: int) -> Path:
    """A cgroup holding at most `cpus` CPUs' time per `period_us`; its directory."""
    quota_us = max(1000, int(cpus * period_us))
    if (V1 / "cpu.cfs_quota_us").exists():
        group = V1 / name
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(quota_us))
        return group
    controllers = V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        (V2 / "cgroup.subtree_control").write_text("+cpu")
        group = V2 / name
        group.mkdir(exist_ok=True)
        (group / "cpu.max").write_text(f"{quota_us} {period_us}")
        return group
    raise SystemExit("no cgroup cpu controller here (needs Linux cgroups v1 or v2, as root)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cpus", type=float, help="CPUs' worth of time, e.g. 0.9")
    parser.add_argument("--period-ms", type=int, default=10, help="quota window")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.cpus <= 0:
        parser.error("give a positive CPU count and a command after --")
    group = make_cgroup(f"realtime2-bench-{os.getpid()}", args.cpus, args.period_ms * 1000)
    procs = str(group / "cgroup.procs")

    def enter() -> None:  # in the child, before exec: it and all it starts are limited
        with open(procs, "w") as f:
            f.write(str(os.getpid()))

    print(f"running under {args.cpus} CPUs per {args.period_ms} ms ({group})", flush=True)
    try:
        code = subprocess.call(command, preexec_fn=enter)
    finally:
        group.rmdir()
    sys.exit(code)


if __name__ == "__main__":
    main()
