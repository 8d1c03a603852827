"""The loss and BLEU curves of a run, drawn from its JSONL log."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_curves(log_path: Path, out_path: Path) -> None:
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not records:
        return
    steps = [r["step"] for r in records]
    fig, (loss_ax, bleu_ax) = plt.subplots(1, 2, figsize=(10, 4))
    loss_ax.plot(steps, [r["train_loss"] for r in records], marker="o", label="train (smoothed)")
    loss_ax.plot(steps, [r["valid_loss"] for r in records], marker="o", label="valid")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss per token")
    loss_ax.legend()
    bleu_ax.plot(steps, [r["valid_bleu"] for r in records], marker="o", color="tab:green")
    bleu_ax.set_xlabel("step")
    bleu_ax.set_ylabel("valid sacreBLEU (mean over directions)")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
