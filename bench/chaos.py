"""The chaos test (tests/integration/test_chaos.py) at a size too big for CI: many more random
SIGKILLs of agents, hub and Mosquitto. Reports the kills survived, the sales with a 2xx, and
whether each was found exactly once in the hub and in the ERP (the test's own assertions).
Usage: python -m bench.chaos [--kills 60] [--seed N]
"""

import argparse
import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench import save

ROOT = Path(__file__).resolve().parents[1]


def main(args: argparse.Namespace) -> dict:
    env = {**os.environ, "CHAOS_KILLS": str(args.kills)}
    if args.seed is not None:
        env["CHAOS_SEED"] = str(args.seed)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           "--timeout", str(60 + args.kills * 20),
                           "tests/integration/test_chaos.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    out = done.stdout + done.stderr
    seed = re.search(r"chaos seed (\d+)", out)
    kills = re.search(r"kills survived: (\{.*?\}); sales accepted: (\{.*?\})", out)
    return {
        "kills_asked": args.kills,
        "seed": int(seed.group(1)) if seed else None,
        "kills": ast.literal_eval(kills.group(1)) if kills else None,
        "sales_accepted": ast.literal_eval(kills.group(2)) if kills else None,
        "exactly_once_hub_and_erp": done.returncode == 0,
        "seconds": round(time.perf_counter() - t),
        "tail": out.splitlines()[-15:] if done.returncode else [],
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--kills", type=int, default=60)
    p.add_argument("--seed", type=int)
    r = main(p.parse_args())
    save("chaos", r)
    sold = sum((r["sales_accepted"] or {}).values())
    print(f"chaos: seed {r['seed']}, kills survived {r['kills']}, {sold} sales with a 2xx, "
          f"exactly once in hub and ERP: {r['exactly_once_hub_and_erp']} ({r['seconds']} s)")
    if r["tail"]:
        print("\n".join(r["tail"]))
    sys.exit(0 if r["exactly_once_hub_and_erp"] else 1)
