"""Memory of eager ``tf.random.categorical`` calls: why the Pong notebook's kernel grows during training.

Each way of sampling runs in its own fresh Python process, which makes ``--calls`` calls on
(16, 2) logits (one call per step of 16 games, as ``sample_actions`` does). The process's
resident memory before and after is printed as a table. With a global seed set and no op seed,
TensorFlow caches a new random kernel for every call.

usage: python benchmarks/random_kernel_memory.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

#: How each way samples, and whether it sets the global seed first (as ``labs.set_seed`` does).
WAYS = {
    "global seed set, no op seed (the notebooks' way)": (True, "tf.random.categorical(logits, num_samples=1)"),
    "no global seed": (False, "tf.random.categorical(logits, num_samples=1)"),
    "global seed, op seed given (seed=7)": (True, "tf.random.categorical(logits, num_samples=1, seed=7)"),
    "global seed, the call inside a tf.function": (True, "draw(logits)"),
}

_CHILD = """
import numpy as np, tensorflow as tf
def resident_gb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024**2
if {seeded}:
    tf.random.set_seed(42)
draw = tf.function(lambda logits: tf.random.categorical(logits, num_samples=1))
logits = tf.constant(np.zeros((16, 2), np.float32))
{call}
before = resident_gb()
samples = set()
for _ in range({calls}):
    samples.add(int({call}[0, 0]))
print(before, resident_gb(), len(samples))
"""


def measure(seeded: bool, call: str, calls: int) -> tuple[float, float, int]:
    """(GB before, GB after, distinct first samples) for ``calls`` calls of ``call`` in a fresh process."""
    code = _CHILD.format(seeded=seeded, call=call, calls=calls)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after, distinct = output.split()
    return float(before), float(after), int(distinct)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="sampling calls per way (default: 20,000)")
    calls = parser.parse_args().calls
    print(f"| {calls:,} calls on (16, 2) logits | memory before → after | per call | samples vary |")
    print("|---|---|---|---|")
    for name, (seeded, call) in WAYS.items():
        before, after, distinct = measure(seeded, call, calls)
        print(f"| {name} | {before:.2f} → {after:.2f} GB | {(after - before) * 1024**2 / calls:.1f} KB | "
              f"{'yes' if distinct > 1 else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
