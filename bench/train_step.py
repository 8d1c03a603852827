"""Training-step speed with and without the allocator setting (model/allocator.py).

Each mode runs in its own process (glibc's malloc is set once per process), alternating, on the same
synthetic batch: model.train's own step (fwd + bwd + clipping + Adam, the config's precision) on the
config's network. Prints the median seconds and page faults per step of each mode, the peak resident
memory (the setting keeps the peak heap), and the speed ratio.

    python bench/train_step.py --config model/configs/general_en_de_fr.yaml --rounds 3

Pause any training first (kill -STOP): two jobs on two cores measure nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def measure(config_path: Path, tuned: bool, steps: int, vocab: int, sentences: int, length: int) -> dict[str, float]:
    import torch

    from model.allocator import keep_freed_memory
    from model.batching import Batch
    from model.config import load_config
    from model.seq2seq import Translator
    from model.train import make_optimizer, mixed_precision, training_step
    from nmt_core.bundle import DEFAULT_SPECIAL_IDS

    config = load_config(config_path)
    torch.set_num_threads(config.train.threads or 2)
    if tuned and not keep_freed_memory():
        raise SystemExit("this C library takes no malloc settings")
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = Translator(vocab, config.model)
    optimizer = make_optimizer(model, 1e-4)
    ids = torch.randint(DEFAULT_SPECIAL_IDS.first_free, vocab, (sentences, length + 1))
    batch = Batch(ids[:, 1:], torch.full((sentences,), length), ids[:, :-1], ids[:, 1:], [])
    autocast = mixed_precision(config.train.precision, device)
    times, faults = [], []
    for step in range(steps + 2):  # two warm-up steps
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        training_step(model, optimizer, batch, device, config, autocast)
        if step >= 2:
            times.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"s_per_step": statistics.median(times), "faults_per_step": statistics.median(faults), "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("model/configs/general_en_de_fr.yaml"))
    parser.add_argument("--rounds", type=int, default=3, help="process pairs (plain, tuned), alternating")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=16000)
    parser.add_argument("--sentences", type=int, default=160)
    parser.add_argument("--length", type=int, default=25, help="tokens per sentence (160 x 25 = 4,000)")
    parser.add_argument("--child", choices=["plain", "tuned"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.config, args.child == "tuned", args.steps, args.vocab, args.sentences, args.length)
        print(json.dumps(result))
        return
    from model.allocator import untuned_environment

    results: dict[str, list[dict[str, float]]] = {"plain": [], "tuned": []}
    for _ in range(args.rounds):
        for mode in results:
            argv = [sys.executable, __file__, "--child", mode, *sys.argv[1:]]
            out = subprocess.run(argv, capture_output=True, text=True, check=True, env=untuned_environment()).stdout
            results[mode].append(json.loads(out.splitlines()[-1]))
    summary = {
        mode: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for mode, runs in results.items()
    }
    speedup = summary["plain"]["s_per_step"] / summary["tuned"]["s_per_step"]
    print(json.dumps({**summary, "speedup": round(speedup, 2), "rounds": args.rounds}, indent=2))


if __name__ == "__main__":
    main()
