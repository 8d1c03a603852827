"""Train a translator from a YAML config: `python -m model.train --config model/configs/NAME.yaml`.

Validation loss and BLEU every epoch, best checkpoint kept, early stopping on
BLEU, `--resume` mid-epoch, a JSONL log and a PNG of the curves in the run folder.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from model.allocator import keep_freed_memory
from model.batching import Batch, collate, make_batches
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.config import ExperimentConfig, load_config
from model.dataset import PreparedData, prepare_data
from model.metrics import score
from model.plot import plot_curves
from model.seq2seq import TorchBackend, Translator, count_parameters
from model.warm_start import warm_start
from nmt_core.bundle import DEFAULT_SPECIAL_IDS
from nmt_core.offline import detokenize, translate_offline
from nmt_core.search import SearchOptions

CHECKPOINT_EVERY_MINUTES = 10.0
ADAM_BETAS = (0.9, 0.98)
PAUSE_GAP_S = 60.0  # no training step (or the validation pass) takes this long unless the process was paused


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, warmup: int) -> float:
    """Linear warm-up, then inverse square-root decay."""
    step = max(step, 1)
    return step / warmup if step < warmup else math.sqrt(warmup / step)


def cosine_factor(step: int, warmup: int, spent: float) -> float:
    """Linear warm-up, then a half cosine from 1 to 0 as `spent` (fraction of the budget) reaches 1.

    Annealing to zero by the end of a fixed budget beats stopping an open-ended schedule early.
    """
    step = max(step, 1)
    if step < warmup:
        return step / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, spent))))


def budget_spent(step: int, total_steps: int, elapsed_minutes: float, max_minutes: float | None) -> float:
    """The fraction of the training budget used: steps or minutes, whichever runs out first."""
    fraction = step / max(1, total_steps)
    if max_minutes:
        fraction = max(fraction, elapsed_minutes / max_minutes)
    return fraction


def batch_loss(model: Translator, batch: Batch, device: torch.device, smoothing: float) -> tuple[torch.Tensor, int]:
    logits = model(batch.src_ids.to(device), batch.src_lengths.to(device), batch.tgt_in.to(device))
    target = batch.tgt_out.to(device)
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)),
        target.reshape(-1),
        ignore_index=DEFAULT_SPECIAL_IDS.pad,
        label_smoothing=smoothing,
        reduction="sum",
    )
    return loss, batch.target_tokens


def make_optimizer(model: Translator, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(model.parameters(), lr=lr, betas=ADAM_BETAS)


def training_step(
    model: Translator,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    device: torch.device,
    config: ExperimentConfig,
    autocast: AbstractContextManager[Any],
) -> tuple[float, int]:
    """One optimiser step (the one bench/train_step.py times); returns the summed loss and target tokens."""
    with autocast:
        loss, tokens = batch_loss(model, batch, device, config.train.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    (loss / tokens).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.clip_norm)
    optimizer.step()
    return loss.item(), tokens


@torch.no_grad()
def validate(model: Translator, data: PreparedData, config: ExperimentConfig, device: torch.device) -> dict[str, Any]:
    model.eval()
    total, tokens = 0.0, 0
    for indices in make_batches(data.valid_examples, config.train.max_tokens, seed=None):
        loss, count = batch_loss(model, collate(data.valid_examples, indices), device, 0.0)
        total, tokens = total + float(loss), tokens + count
    backend = TorchBackend(model, device)
    options = SearchOptions(beam_size=config.train.valid_beam_size)
    bleu: dict[str, Any] = {}
    for label, pairs in sorted(data.valid.items()):
        target_lang = pairs[0].target_lang
        hyps = detokenize(
            data.vocab, translate_offline(backend, data.vocab, [p.source for p in pairs], target_lang, options)
        )
        bleu[label] = score(hyps, [p.target for p in pairs], target_lang)
    model.train()
    mean = sum(b["sacrebleu"] for b in bleu.values()) / max(1, len(bleu))
    return {"valid_loss": total / max(1, tokens), "valid_bleu": round(mean, 2), "valid_bleu_by_direction": bleu}


def is_better(metrics: dict[str, Any], progress: dict[str, Any]) -> bool:
    """Higher validation BLEU wins; on a tie (early on, BLEU is often 0) lower validation loss does."""
    if metrics["valid_bleu"] != progress["best_bleu"]:
        return bool(metrics["valid_bleu"] > progress["best_bleu"])
    return bool(metrics["valid_loss"] < progress.get("best_valid_loss", float("inf")))


def pick_device(requested: str | None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@lru_cache(maxsize=4)
def bf16_runs_on(device_type: str) -> bool:
    """Whether an LSTM runs under bf16 autocast here: oneDNN refuses it on CPUs without bf16 instructions."""
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            torch.nn.LSTM(4, 4).to(device_type)(torch.zeros(2, 1, 4, device=device_type))
    except RuntimeError:
        return False
    return True


def mixed_precision(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast (fp32 master weights, fp32 loss) where asked, or by default on CUDA; fp32, with a warning,
    where the hardware cannot run it (the same recipe then trains on any machine)."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        if bf16_runs_on(device.type):
            return torch.autocast(device.type, dtype=torch.bfloat16)
        warnings.warn(f"bf16 does not run on this {device.type}: training in fp32", stacklevel=2)
    return nullcontext()


def train(config: ExperimentConfig, resume: Path | None = None, device_name: str | None = None) -> Path:
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(device_name)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    seed_everything(config.train.seed)
    data = prepare_data(config, run_dir)
    model = Translator(len(data.vocab), config.model).to(device)
    optimizer = make_optimizer(model, config.train.lr)
    progress: dict[str, Any] = {
        "epoch": 0,
        "batch": 0,
        "step": 0,
        "best_bleu": -1.0,
        "bad_epochs": 0,
        "lr_scale": 1.0,
        "elapsed_minutes": 0.0,
    }
    if resume is None and config.train.init_from:
        report = warm_start(model, config.train.init_from, data.vocab)
        print(json.dumps({"warm_start": asdict(report)}), flush=True)
    if resume is not None:
        previous = load_checkpoint(resume)
        model.load_state_dict(previous.model_state)
        if previous.optimizer_state:
            optimizer.load_state_dict(previous.optimizer_state)
        progress.update(previous.progress)
    log_path = run_dir / "log.jsonl"
    sentencepiece = data.vocab.processor.serialized_model_proto()
    print(
        json.dumps(
            {
                "parameters": count_parameters(model),
                "train_pairs": len(data.train),
                "directions": data.directions,
                "device": str(device),
            }
        ),
        flush=True,
    )

    def snapshot(with_optimizer: bool, metrics: dict[str, Any] | None = None) -> Checkpoint:
        return Checkpoint(
            config,
            {k: v.detach().cpu() for k, v in model.state_dict().items()},
            sentencepiece,
            data.directions,
            data.languages,
            dict(progress),
            optimizer.state_dict() if with_optimizer else None,
            metrics or {},
        )

    autocast = mixed_precision(config.train.precision, device)
    last_tick = time.monotonic()
    last_save = time.monotonic()

    def tick() -> None:
        """Advance the budget clock by the time since the last tick; a long gap is a pause (kill -STOP while
        benchmarking, a suspended laptop) and counts as at most PAUSE_GAP_S, so pausing costs no budget."""
        nonlocal last_tick
        now = time.monotonic()
        progress["elapsed_minutes"] += min(now - last_tick, PAUSE_GAP_S) / 60
        last_tick = now

    out_of_time = False
    steps_per_epoch = len(make_batches(data.train, config.train.max_tokens, config.train.seed, 0))
    total_steps = config.train.epochs * steps_per_epoch
    if config.train.max_steps is not None:
        total_steps = min(total_steps, config.train.max_steps)
    model.train()
    while progress["epoch"] < config.train.epochs and not out_of_time:
        epoch = progress["epoch"]
        batches = make_batches(data.train, config.train.max_tokens, config.train.seed, epoch)
        bar = tqdm(
            batches,
            desc=f"epoch {epoch + 1}",
            initial=progress["batch"],
            total=len(batches),
            dynamic_ncols=True,
            mininterval=5.0,
        )
        window_tokens, window_start, smoothed = 0, time.monotonic(), None
        for indices in batches[progress["batch"] :]:
            step = progress["step"] + 1
            if config.train.schedule == "cosine":
                spent = budget_spent(step, total_steps, progress["elapsed_minutes"], config.train.max_minutes)
                factor = cosine_factor(step, config.train.warmup_steps, spent)
            else:
                factor = progress["lr_scale"] * lr_factor(step, config.train.warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = config.train.lr * factor
            loss_sum, tokens = training_step(model, optimizer, collate(data.train, indices), device, config, autocast)
            progress["step"], progress["batch"] = step, progress["batch"] + 1
            per_token = loss_sum / tokens
            smoothed = per_token if smoothed is None else 0.98 * smoothed + 0.02 * per_token
            window_tokens += tokens
            rate = window_tokens / max(1e-6, time.monotonic() - window_start)
            bar.set_postfix(loss=f"{smoothed:.3f}", tok_s=f"{rate:.0f}", lr=f"{group['lr']:.2e}", refresh=False)
            bar.update(1)
            tick()
            if time.monotonic() - last_save > 60 * CHECKPOINT_EVERY_MINUTES:
                save_checkpoint(snapshot(True), run_dir / "last.pt")
                last_save = time.monotonic()
            limit = config.train.max_minutes
            minutes_up = limit is not None and progress["elapsed_minutes"] >= limit
            if minutes_up or (config.train.max_steps is not None and step >= config.train.max_steps):
                out_of_time = True
                break
        bar.close()
        epoch_done = progress["batch"] >= len(batches)
        tick()
        metrics = validate(model, data, config, device)  # counted whole: it can outlast PAUSE_GAP_S
        progress["elapsed_minutes"] += (time.monotonic() - last_tick) / 60
        last_tick = time.monotonic()
        record = {
            "epoch": epoch + 1,
            "epoch_complete": epoch_done,
            "step": progress["step"],
            "train_loss": smoothed,
            "lr": optimizer.param_groups[0]["lr"],
            "minutes": round(progress["elapsed_minutes"], 2),
            **metrics,
        }
        with log_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps({k: v for k, v in record.items() if k != "valid_bleu_by_direction"}), flush=True)
        if epoch_done:
            progress["epoch"], progress["batch"] = epoch + 1, 0
        if is_better(metrics, progress):
            progress["best_bleu"], progress["bad_epochs"] = metrics["valid_bleu"], 0
            progress["best_valid_loss"] = metrics["valid_loss"]
            save_checkpoint(snapshot(False, metrics), run_dir / "best.pt")
        else:
            progress["bad_epochs"] += 1
            if config.train.schedule == "inverse_sqrt":
                progress["lr_scale"] *= config.train.lr_decay
        save_checkpoint(snapshot(True, metrics), run_dir / "last.pt")
        last_save = time.monotonic()
        plot_curves(log_path, run_dir / "curves.png")
        if progress["bad_epochs"] >= config.train.patience:
            print(f"early stop: no BLEU gain in {config.train.patience} epochs", flush=True)
            break
    return run_dir / "best.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--resume", type=Path, help="continue from a last.pt checkpoint")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--max-minutes", type=float, help="override the training time budget")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when present)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    if args.max_minutes is not None:
        config.train.max_minutes = args.max_minutes
    # a whole-process setting, so the command sets it, not train(), which tests call in-process
    print(json.dumps({"malloc_keeps_freed_memory": keep_freed_memory()}), flush=True)
    best = train(config, args.resume, args.device)
    print(f"best checkpoint: {best}")


if __name__ == "__main__":
    main()
