"""Memory of eager sampling calls: why the Pong notebook's kernel grew during training, and the fix.

Each way of sampling runs in its own fresh Python process, which makes ``--calls`` calls on
(16, 2) logits (one call per step of 16 games, as ``sample_actions`` does). The process's
resident memory before and after, and the time per call, are printed as a table. With a global
seed set (``labs.set_seed`` sets one) and no op seed, ``tf.random.categorical`` caches a new random
kernel for every call; ``keras.random.categorical``, which the notebooks now use, draws from one
seeded state.

usage: python benchmarks/random_kernel_memory.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

#: How each way samples, and whether it sets the global seed first (as ``labs.set_seed`` does).
WAYS = {
    "keras.random.categorical, seed set (the notebooks' way)": (True, "keras.random.categorical(logits, num_samples=1)"),
    "tf.random.categorical, seed set, no op seed (the notebooks' earlier way)":
        (True, "tf.random.categorical(logits, num_samples=1)"),
    "no global seed": (False, "tf.random.categorical(logits, num_samples=1)"),
    "global seed, op seed given (seed=7)": (True, "tf.random.categorical(logits, num_samples=1, seed=7)"),
    "global seed, the call inside a tf.function": (True, "draw(logits)"),
}

_CHILD = """
import time
import keras, numpy as np, tensorflow as tf
def resident_gb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024**2
if {seeded}:
    keras.utils.set_random_seed(42)
draw = tf.function(lambda logits: tf.random.categorical(logits, num_samples=1))
logits = tf.constant(np.zeros((16, 2), np.float32))
{call}
before = resident_gb()
start = time.perf_counter()
samples = set()
for _ in range({calls}):
    samples.add(int({call}[0, 0]))
print(before, resident_gb(), len(samples), (time.perf_counter() - start) / {calls})
"""


def measure(seeded: bool, call: str, calls: int) -> tuple[float, float, int, float]:
    """(GB before, GB after, distinct first samples, seconds per call) for ``calls`` calls of ``call``, in a fresh process."""
    code = _CHILD.format(seeded=seeded, call=call, calls=calls)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after, distinct, seconds = output.split()
    return float(before), float(after), int(distinct), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="sampling calls per way (default: 20,000)")
    calls = parser.parse_args().calls
    print(f"| {calls:,} calls on (16, 2) logits | memory before → after | per call | time per call | samples vary |")
    print("|---|---|---|---|---|")
    for name, (seeded, call) in WAYS.items():
        before, after, distinct, seconds = measure(seeded, call, calls)
        print(f"| {name} | {before:.2f} → {after:.2f} GB | {(after - before) * 1024**2 / calls:.1f} KB | "
              f"{seconds * 1e6:.0f} µs | {'yes' if distinct > 1 else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
