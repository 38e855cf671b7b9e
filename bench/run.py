"""`make bench`: run every bench/bench_*.py in turn; each prints its own figures."""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    failures = 0
    for script in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        print(f"== {os.path.basename(script)}", flush=True)
        failures += subprocess.run([sys.executable, script], cwd=os.path.dirname(HERE)).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
