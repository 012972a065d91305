"""Training loop: seeded, checkpointed every epoch, resumable after a kill.

``RUN_DIR/last.pt`` holds everything needed to resume (weights, optimizer, scheduler, epoch,
history); ``RUN_DIR/best.pt`` the weights of the epoch with the best validation mAP@.5;
``RUN_DIR/metrics.jsonl`` one line per epoch and ``RUN_DIR/train.log`` a readable log.

With ``ema_decay`` set, the weights evaluated each epoch and stored as a checkpoint's ``model``
are an exponential moving average of the trained weights (as in YOLOv5 and timm); ``last.pt``
also keeps the raw weights, so a resumed run goes on exactly where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from models.checkpoint import load_checkpoint, save_checkpoint
from models.config import DetectorConfig
from models.datasets import DatasetIndex, DetectionDataset, collate
from models.detector import build_detector
from models.errors import ModelNotFoundError
from models.evaluation import evaluate_model
from models.taxonomy import category_for
from models.transforms import AugmentConfig, eval_transforms, train_transforms

LOG = logging.getLogger("wastemap.train")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (stored in every checkpoint)."""

    epochs: int = 24
    batch_size: int = 4
    optimizer: str = "sgd"  # "sgd" (momentum) or "adamw"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 300
    min_lr_ratio: float = 0.02
    grad_clip_norm: float = 10.0
    seed: int = 0
    num_workers: int = 0
    num_threads: int | None = None
    device: str = "cpu"
    repeat_factor_threshold: float = 0.0
    max_images_per_epoch: int | None = None
    eval_score_threshold: float = 0.01
    ema_decay: float = 0.0  # 0 = off; e.g. 0.9998 (its ramp: ema_ramp_iters)
    ema_ramp_iters: int = 2000
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known and k != "augment"}
        aug = AugmentConfig(**data.get("augment", {}))
        return cls(**kwargs, augment=aug)


class EpochSampler(Sampler[int]):
    """Seeded shuffle per epoch; with repeat-factor sampling, rare classes are drawn more often.

    Repeat factors follow LVIS: an image's factor is ``max(1, sqrt(t / f_c))`` over its classes
    ``c``, ``f_c`` being the fraction of images holding ``c`` and ``t`` the threshold.
    """

    def __init__(
        self, index: DatasetIndex, *, seed: int, threshold: float, limit: int | None
    ) -> None:
        self.seed = seed
        self.epoch = 0
        self.limit = limit
        n = len(index.samples)
        self.weights = torch.ones(n, dtype=torch.float64)
        if threshold > 0 and n:
            counts = torch.zeros(len(index.class_names), dtype=torch.float64)
            for s in index.samples:
                for c in set(s.classes):
                    counts[c] += 1
            freq = counts / n
            for i, s in enumerate(index.samples):
                factors = [max(1.0, math.sqrt(threshold / freq[c].item())) for c in set(s.classes)]
                self.weights[i] = max(factors, default=1.0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.weights)
        return min(n, self.limit) if self.limit else n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        if bool((self.weights != 1).any()):
            order = torch.multinomial(
                self.weights, len(self), replacement=True, generator=generator
            )
        else:
            order = torch.randperm(len(self.weights), generator=generator)[: len(self)]
        return iter(order.tolist())


class ModelEMA:
    """Exponential moving average of a model's weights, updated after every optimizer step.

    The decay ramps up as ``decay * (1 - exp(-updates / ramp))``, so the average follows the
    trained weights closely at first and smooths over more and more steps later. Integer
    buffers (counters) are copied, not averaged.
    """

    def __init__(self, model: torch.nn.Module, *, decay: float, ramp: int, updates: int = 0):
        self.decay, self.ramp, self.updates = decay, max(1, ramp), updates
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        for key, value in model.state_dict().items():
            avg = self.state[key]
            if avg.is_floating_point():
                avg.mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                avg.copy_(value)

    def copy_to(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.state)


def lr_factor(iteration: int, *, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up from 0.001 over ``warmup`` iterations, then cosine decay to ``min_ratio``."""
    if warmup and iteration < warmup:
        return 0.001 + (1 - 0.001) * iteration / warmup
    progress = min(1.0, (iteration - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(model: torch.nn.Module, recipe: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; choose sgd or adamw")


def _setup_log(out_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(out_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    return handler


@dataclass
class TrainResult:
    """Where the run's files are and what each epoch measured."""

    out_dir: Path
    last: Path
    best: Path | None
    history: list[dict[str, Any]]


def train(
    train_index: DatasetIndex,
    *,
    out_dir: str | Path,
    config: DetectorConfig,
    recipe: TrainConfig,
    val_index: DatasetIndex | None = None,
    weights: str | None = None,
    weights_backbone: str | Path | None = None,
    class_map: Mapping[str, str] | None = None,
    resume: bool = False,
    resume_epochs: int | None = None,
    init_weights: str | Path | None = None,
    progress: bool = True,
    metadata: Mapping[str, Any] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a detector on ``train_index``; see the module docstring for the files written.

    With ``resume``, the run in ``RUN_DIR/last.pt`` (which must exist) continues after the last
    finished epoch with the checkpoint's config and recipe; ``resume_epochs`` may change the
    total number of epochs (the cosine schedule then follows the new length), and ``recipe``'s
    device, threads and workers apply (they say where the run goes on, not what it learns).
    ``init_weights`` (a checkpoint) starts a new run from its weights and config with a fresh
    optimizer and schedule: a second fine-tuning stage with another recipe.
    """
    out = Path(out_dir)
    if resume and not (out / "last.pt").is_file():
        raise ModelNotFoundError(
            out / "last.pt",
            f"There is no run to resume in {out}: drop --resume to start a new run.",
        )
    out.mkdir(parents=True, exist_ok=True)
    handler = _setup_log(out)
    try:
        return _train(
            train_index,
            out=out,
            config=config,
            recipe=recipe,
            val_index=val_index,
            weights=weights,
            weights_backbone=weights_backbone,
            class_map=class_map,
            resume=resume,
            resume_epochs=resume_epochs,
            init_weights=init_weights,
            progress=progress,
            metadata=dict(metadata or {}),
            on_epoch=on_epoch,
        )
    finally:
        LOG.removeHandler(handler)
        handler.close()


def _train(
    train_index: DatasetIndex,
    *,
    out: Path,
    config: DetectorConfig,
    recipe: TrainConfig,
    val_index: DatasetIndex | None,
    weights: str | None,
    weights_backbone: str | Path | None,
    class_map: Mapping[str, str] | None,
    resume: bool,
    resume_epochs: int | None,
    init_weights: str | Path | None,
    progress: bool,
    metadata: dict[str, Any],
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> TrainResult:
    last_path, best_path = out / "last.pt", out / "best.pt"
    state: dict[str, Any] | None = None
    if resume:
        state = load_checkpoint(last_path)
        config = DetectorConfig.from_dict(state["config"])
        done = state["training"]["epoch"] + 1
        epochs = resume_epochs or state["recipe"]["epochs"]
        if epochs < done:
            raise ValueError(
                f"--epochs {epochs} is fewer than the {done} epochs {last_path} already "
                "finished; give the new total number of epochs"
            )
        # the recipe stays the checkpoint's; the schedule length (the cosine decay follows it)
        # and where/how fast to run (device, threads, workers) come from this call
        recipe = replace(
            TrainConfig.from_dict(state["recipe"]),
            epochs=epochs,
            device=recipe.device,
            num_threads=recipe.num_threads,
            num_workers=recipe.num_workers,
        )
        LOG.info("resuming %s after epoch %d", last_path, state["training"]["epoch"])
    if tuple(config.class_names) != tuple(train_index.class_names):
        config = config.with_classes(train_index.class_names)
    taxonomy = {name: category_for(name, class_map) for name in config.class_names}

    if recipe.num_threads:
        torch.set_num_threads(recipe.num_threads)
    torch.manual_seed(recipe.seed)
    device = torch.device(recipe.device)
    init = None
    if state is None and init_weights is not None:
        init = _read_init_weights(init_weights, train_index.class_names)
        config = DetectorConfig.from_dict(init["config"])
        metadata.setdefault("init_weights", str(init_weights))
    model = _start_model(
        config,
        init,
        pretrained=state is None and init is None,
        weights=weights,
        weights_backbone=weights_backbone,
    ).to(device)
    optimizer = _optimizer(model, recipe)
    sampler = EpochSampler(
        train_index,
        seed=recipe.seed,
        threshold=recipe.repeat_factor_threshold,
        limit=recipe.max_images_per_epoch,
    )
    iters_per_epoch = math.ceil(len(sampler) / recipe.batch_size)
    total_iters = iters_per_epoch * recipe.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda it: lr_factor(
            it, total=total_iters, warmup=recipe.warmup_iters, min_ratio=recipe.min_lr_ratio
        ),
    )
    start_epoch, history, best_map50 = 0, [], -1.0
    if state is not None:
        start_epoch, history, best_map50 = _restore(state, model, optimizer, scheduler)
        # the schedule length may have grown with --epochs
        scheduler.lr_lambdas[0] = lambda it: lr_factor(
            it, total=total_iters, warmup=recipe.warmup_iters, min_ratio=recipe.min_lr_ratio
        )
    ema = _start_ema(model, recipe, state, device)

    dataset = DetectionDataset(train_index, train_transforms(recipe.augment))
    val_dataset = DetectionDataset(val_index, eval_transforms()) if val_index is not None else None
    data_info = {
        "path": train_index.description,
        "format": train_index.format,
        "sha256": metadata.pop("data_sha256", None) or train_index.content_hash(),
        "images": len(train_index),
        "boxes_per_class": train_index.class_counts(),
    }
    LOG.info(
        "training %s on %d images (%s), %d iterations/epoch, epochs %d..%d",
        config.feature_map_generator.backbone,
        len(train_index),
        train_index.description,
        iters_per_epoch,
        start_epoch + 1,
        recipe.epochs,
    )
    for epoch in range(start_epoch, recipe.epochs):
        started = time.monotonic()
        torch.manual_seed(recipe.seed * 1000 + epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(
            dataset,
            batch_size=recipe.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=recipe.num_workers,
            persistent_workers=False,
        )
        losses = _train_epoch(
            model, loader, optimizer, scheduler, recipe, device, epoch, progress, ema
        )
        # evaluate and store the averaged weights (with EMA); the raw ones go on training
        with _averaged_weights(model, ema) as raw:
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                **{k: round(v, 5) for k, v in losses.items()},
                "lr": optimizer.param_groups[0]["lr"],
                "train_s": round(time.monotonic() - started, 1),
            }
            if val_dataset is not None:
                result = evaluate_model(
                    model,
                    val_dataset,
                    model_classes=config.class_names,
                    class_map=class_map,
                    device=str(device),
                    score_threshold=recipe.eval_score_threshold,
                )
                record.update(map=result.map, map50=result.map50, per_class=result.per_class)
            history.append(record)
            payload = {
                "config": config.to_dict(),
                "class_names": list(config.class_names),
                "taxonomy": taxonomy,
                "metrics": {k: record[k] for k in ("map", "map50", "per_class") if k in record}
                | {"epoch": epoch + 1, "val_data": str(val_index.root) if val_index else None},
                "data": data_info,
                "recipe": recipe.to_dict(),
                "metadata": metadata,
                "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            }
        if record.get("map50", -1.0) > best_map50 or val_dataset is None:
            best_map50 = record.get("map50", -1.0)
            save_checkpoint(best_path, payload)
        payload["training"] = {
            "epoch": epoch,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history,
            # with EMA: the raw weights and the average's step count, to resume exactly
            **({"raw_model": raw, "ema_updates": ema.updates} if ema is not None else {}),
        }
        save_checkpoint(last_path, payload)
        with (out / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        LOG.info("epoch %d/%d %s", epoch + 1, recipe.epochs, json.dumps(record))
        if on_epoch is not None:
            on_epoch(record)
    return TrainResult(out, last_path, best_path if best_path.is_file() else None, history)


def _start_model(
    config: DetectorConfig,
    init: dict[str, Any] | None,
    *,
    pretrained: bool,
    weights: str | None,
    weights_backbone: str | Path | None,
) -> torch.nn.Module:
    """The model a run starts from: pretrained parts (new runs) or a checkpoint's weights."""
    model = build_detector(
        config,
        weights=weights if pretrained else None,
        weights_backbone=weights_backbone if pretrained else None,
    )
    if init is not None:
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in init["model"].items()}
        )
    return model


def _restore(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> tuple[int, list[dict[str, Any]], float]:
    """Load a run's ``last.pt`` training state; returns (next epoch, history, best mAP@.5)."""
    training = state["training"]
    # with EMA, "model" is the average and "raw_model" the weights the optimizer trains
    model.load_state_dict(training.get("raw_model", state["model"]))
    optimizer.load_state_dict(training["optimizer"])
    scheduler.load_state_dict(training["scheduler"])
    history = list(training["history"])
    best = max((h.get("map50", -1.0) for h in history), default=-1.0)
    return training["epoch"] + 1, history, best


@contextmanager
def _averaged_weights(
    model: torch.nn.Module, ema: ModelEMA | None
) -> Iterator[dict[str, torch.Tensor] | None]:
    """Inside, ``model`` holds the EMA weights; yields the raw ones, loaded back at the end."""
    if ema is None:
        yield None
        return
    raw = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ema.copy_to(model)
    try:
        yield raw
    finally:
        model.load_state_dict(raw)


def _start_ema(
    model: torch.nn.Module, recipe: TrainConfig, state: dict[str, Any] | None, device: torch.device
) -> ModelEMA | None:
    """The weight average of a run (``None`` without ``ema_decay``), restored when resuming."""
    if not recipe.ema_decay:
        return None
    if not 0 < recipe.ema_decay < 1:
        raise ValueError(
            f"--ema-decay {recipe.ema_decay:g}: give a decay between 0 and 1 (e.g. 0.999: the "
            "average spans about 1,000 steps), or 0 for no averaging"
        )
    if state is not None and "raw_model" not in state["training"]:
        LOG.info("resuming a run that kept no weight average: the average starts here")
    training = state["training"] if state is not None else {}
    ema = ModelEMA(
        model,
        decay=recipe.ema_decay,
        ramp=recipe.ema_ramp_iters,
        updates=training.get("ema_updates", 0),
    )
    if "raw_model" in training:  # the run already averaged: its "model" is the average
        ema.state = {k: v.to(device).clone() for k, v in state["model"].items()}
    return ema


def _read_init_weights(path: str | Path, class_names: tuple[str, ...]) -> dict[str, Any]:
    """A checkpoint to start a fine-tuning stage from; its classes must be the data's."""
    init = load_checkpoint(path)
    trained_on = tuple(init["config"].get("class_names", ()))
    if trained_on != tuple(class_names):
        raise ValueError(
            f"{path} was trained on classes {trained_on}, the data has {class_names}: "
            "fine-tuning needs the same classes"
        )
    LOG.info("starting from the weights of %s", path)
    return init


def _train_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    recipe: TrainConfig,
    device: torch.device,
    epoch: int,
    progress: bool,
    ema: ModelEMA | None = None,
) -> dict[str, float]:
    from tqdm import tqdm

    model.train()
    sums: dict[str, float] = {}
    steps = 0
    tty = sys.stderr.isatty()
    bar = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{recipe.epochs}",
        disable=not progress,
        mininterval=0.5 if tty else 60.0,
        dynamic_ncols=True,
    )
    for images, targets in bar:
        images = [im.to(device) for im in images]
        targets = [
            {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets
        ]
        loss_dict = model(images, targets)
        loss = sum(loss_dict.values())
        if not torch.isfinite(loss):
            LOG.info(
                "non-finite loss %s at epoch %d step %d: batch skipped", loss_dict, epoch + 1, steps
            )
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            continue
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        steps += 1
        for k, v in loss_dict.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
        bar.set_postfix({k.removeprefix("loss_"): f"{v / steps:.3f}" for k, v in sums.items()})
        if not tty and steps % 100 == 0:
            LOG.info(
                "epoch %d step %d/%d loss %.4f", epoch + 1, steps, len(loader), sums["loss"] / steps
            )
    return {k: v / max(steps, 1) for k, v in sums.items()}
