"""The GAN training loop: StyleGAN2 or DCGAN with ADA, lazy regularisation, EMA, checkpoints and reports."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from .._files import atomic_write
from ..augment import PRESETS, AdaController, AdaptiveAugment
from ..formats import TRAINING_FORMAT
from ..nets import ARCHITECTURES, StyleDiscriminator, StyleGenerator, load_stylegan2_ada
from ..nets.checkpoint import atomic_save
from ..nets.errors import CheckpointError, StateDictMismatchError
from ..nets.generator_like import check_generator, generate_images, is_native_generator
from ..plots import PLOTS_MISSING, plotting_available
from ..threads import adjust_threads
from .callbacks import TrainerCallback
from .config import TrainConfig
from .ema import ema_beta, update_ema
from .loss import GANLoss, StyleGAN2Loss
from .random_streams import RunRandomness
from .reports import append_stats, plot_curves, read_stats, save_image_grid
from .sampler import InfiniteSampler
from .tracking import MetricTracker

__all__ = ["AUGMENT_MODES", "TRAINING_FORMAT", "GANTrainer", "TrainingDivergedError", "tf32_allowed"]

AUGMENT_MODES = ("ada", "fixed", "noaug")


# Per-tick sums of the loss statistics and their sample counts, by name.
_Totals = dict[str, tuple[torch.Tensor, int]]


@contextlib.contextmanager
def tf32_allowed(allow: bool) -> Iterator[None]:
    """Allow (or forbid) TF32 in CUDA float32 matmuls and cuDNN convolutions inside the block.

    Sets ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``
    (process-wide switches) and restores their previous values on exit. TF32 (Ampere and newer
    GPUs) rounds the inputs of float32 products to a 10-bit mantissa: several times faster
    convolutions, relative errors ~1e-3 instead of ~1e-7, results that vary between GPUs.
    StyleGAN2-ADA trains with it off.

    Parameters
    ----------
    allow : bool
        The value of both switches inside the block.
    """
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(allow)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the run stopped before writing anything from the bad state."""


@dataclass
class _Phase:
    name: str
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    interval: int


def _distributed() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class GANTrainer:
    """Train a StyleGAN2 (or DCGAN) generator on a small image dataset with adaptive discriminator augmentation.

    The networks are those of ``config.arch``, or your own (``G``, ``D``, ``augment_pipe``, ``loss``). With
    ``config.mask_channels`` > 0 the dataset's items carry segmentation masks after the image channels
    (:class:`~medgan_aug.data.PairedImageFolderDataset`): G makes image and masks together, D judges the pairs,
    ADA moves masks with the image and recolours only the image, sample grids show each image beside its first
    mask, and metrics score the image channels.

    Run it in one process, or in several launched by ``torchrun`` (the trainer
    joins the process group torchrun sets up; each process takes its share of
    every minibatch and gradients are averaged). Everything a run writes goes
    to ``outdir``: ``config.json``, ``stats.jsonl`` (one row per tick), sample
    grids (``reals.png``, ``fakes-<kimg>.png``, from fixed latents),
    ``loss.png`` and ``augment.png`` plots (with matplotlib installed, ``medgan-aug[plots]``; a warning says when
    they are left out), and full training checkpoints
    (``training-<kimg>.pt``, written atomically) to resume from.

    The run draws its random numbers from its own streams (:class:`~medgan_aug.train.RunRandomness`, seeded by
    ``seed``), not from torch's global generator, which it leaves as it found it; a resumed run continues them.

    Parameters
    ----------
    config : TrainConfig
        From :func:`~medgan_aug.train.resolve_config`: the optimiser, batch, EMA and regularisation settings, and
        the networks' when they are built here.
    dataset : torch.utils.data.Dataset
        Items ``(image [C, R, R] in [-1, 1], label [c_dim])``, e.g. :class:`~medgan_aug.data.ImageFolderDataset`;
        ``C`` counts the masks too.
    outdir : str or Path
        Run directory (created).
    G, D : torch.nn.Module, optional
        Networks of your own, given together, in place of ``config.arch``'s: ``G`` a
        :class:`~medgan_aug.nets.GeneratorLike` module (``z_dim``, ``c_dim``, ``img_resolution``,
        ``img_channels`` matching ``config`` and the dataset; ``G(z, c)`` images in [-1, 1]), ``D(images, c)``
        logits ``[N, 1]``. Without a ``loss`` they train with :class:`~medgan_aug.train.StyleGAN2Loss`, which
        applies path-length regularisation and style mixing only to a :class:`~medgan_aug.nets.StyleGenerator`
        (``config.pl_weight`` and ``config.style_mixing_prob`` must be 0 for another generator). Their
        checkpoints hold state dicts without ``G_init_kwargs``: rebuild the modules yourself to load them.
    augment_pipe : AdaptiveAugment, optional
        Your own augmentation pipeline (its own probabilities and strengths) in place of ``augpipe`` and
        ``color``; ``p`` starts from the pipe's own (leave ``p`` at 0), ``augment`` still says how it moves and
        must not be ``'noaug'``.
    loss : GANLoss, optional
        Your own objective, with ``G`` and ``D``: an object whose ``accumulate_gradients(phase, real_img,
        real_c, gen_z, gen_c, gain)`` backpropagates one phase and returns
        :class:`~medgan_aug.train.LossStats` (:class:`~medgan_aug.train.GANLoss`). It must use ``G``, ``D``
        and ``augment_pipe`` (the trainer optimises, averages and checkpoints those); its own buffers are
        checkpointed when it is a module.
    augment : str
        ``'ada'`` (p tuned to ``target``), ``'fixed'`` (p stays at ``p``) or ``'noaug'``.
    augpipe : str
        Augmentation preset (:data:`~medgan_aug.augment.PRESETS`).
    color : bool
        ``False`` disables colour augmentation (dermoscopy).
    target : float
        ADA's target for ``r_t``.
    p : float
        Initial (or fixed) augmentation probability.
    ada_interval : int
        Minibatches between ADA updates.
    ada_kimg : float
        ADA speed: thousands of images for p to go from 0 to 1.
    resume : str or Path, optional
        A ``training-*.pt`` of this library (continues everything: kimg,
        networks, EMA, optimisers, p) or a StyleGAN2-ADA ``.pkl`` (transfer
        learning: the weights that fit are copied, the counters start at 0).
    freeze_d : int
        Freeze the discriminator's first this many layers (Freeze-D; StyleGAN2 only).
    seed : int
        Seed of the whole run; the same seed reproduces the same losses on the CPU.
    device : str or torch.device, optional
        Default: this process's CUDA device if available, else the CPU.
    kimg_per_tick : float
        Thousands of images between reports.
    snapshot_ticks : int
        Ticks between checkpoints (and one at the end).
    image_snapshot_ticks : int
        Ticks between sample grids (default every tick, and one at the end).
    num_workers : int
        Data-loading worker processes.
    progress : bool
        Print a progress line (kimg, img/s, ETA) while training.
    metrics : MetricTracker, optional
        Score the EMA generator against the dataset every few ticks (the results join ``stats.jsonl`` and
        ``metrics.png``), keep the best one as ``best-network.pt`` and optionally stop early.
    callbacks : sequence of TrainerCallback
        Hooks called, in order and on rank 0, after every tick, sample grid and checkpoint and at the end
        (:class:`~medgan_aug.train.TrainerCallback`; :class:`~medgan_aug.train.TensorBoardCallback` writes
        TensorBoard events).
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        outdir: str | Path,
        *,
        G: torch.nn.Module | None = None,
        D: torch.nn.Module | None = None,
        augment_pipe: AdaptiveAugment | None = None,
        loss: GANLoss | None = None,
        augment: str = "ada",
        augpipe: str = "bgc",
        color: bool = True,
        target: float = 0.6,
        p: float = 0.0,
        ada_interval: int = 4,
        ada_kimg: float = 500.0,
        resume: str | Path | None = None,
        freeze_d: int = 0,
        seed: int = 0,
        device: str | torch.device | None = None,
        kimg_per_tick: float = 4.0,
        snapshot_ticks: int = 50,
        image_snapshot_ticks: int = 1,
        num_workers: int = 2,
        progress: bool = True,
        metrics: MetricTracker | None = None,
        callbacks: Sequence[TrainerCallback] = (),
    ) -> None:
        if augment not in AUGMENT_MODES:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT_MODES)}, got {augment!r}")
        if augpipe not in PRESETS:
            raise ValueError(f"augpipe must be one of {', '.join(PRESETS)}, got {augpipe!r}")
        if isinstance(config.n_critic, bool) or not isinstance(config.n_critic, int) or config.n_critic < 1:
            raise ValueError(f"config.n_critic must be a positive integer, got {config.n_critic!r}")
        self._check_dataset(config, dataset)
        if config.arch not in ARCHITECTURES:
            raise ValueError(f"config.arch must be one of {', '.join(ARCHITECTURES)}, got {config.arch!r}")
        if freeze_d and config.arch != "stylegan2":
            raise ValueError(f"freeze_d freezes StyleGAN2 discriminator blocks; config.arch is {config.arch!r}")
        self._check_own_parts(config, G, D, augment, augment_pipe, loss, freeze_d, p)
        # What was passed in rather than built from the config, by class name (in config.json and checkpoints).
        parts = (("G", G), ("D", D), ("augment_pipe", augment_pipe), ("loss", loss))
        own_parts = {name: type(part).__name__ for name, part in parts if part is not None}
        self.rank, self.world = _distributed()
        if config.num_gpus != self.world:
            raise ValueError(f"config was resolved for {config.num_gpus} processes but {self.world} are running")
        if device is None:
            device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.config = config
        self.dataset = dataset
        self.outdir = Path(outdir)
        self.seed = seed
        self.kimg_per_tick = kimg_per_tick
        self.snapshot_ticks = snapshot_ticks
        self.image_snapshot_ticks = image_snapshot_ticks
        self.num_workers = num_workers
        self.progress = progress and self.rank == 0
        self.metrics = metrics
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, TrainerCallback):
                raise TypeError(f"callbacks must be TrainerCallback instances, got {type(callback).__name__}")
        self.rounds = config.batch // (config.batch_gpu * self.world)
        if config.channels_last and config.arch != "stylegan2":
            raise ValueError(f"config.channels_last runs the StyleGAN2 networks channels-last; arch is {config.arch!r}")
        self.random = RunRandomness(seed * self.world + self.rank, self.device)
        with self.random.active():
            if G is None:
                D_kwargs = copy.deepcopy(config.D_kwargs)
                if freeze_d:
                    D_kwargs.setdefault("block_kwargs", {})["freeze_layers"] = freeze_d
                G_class, D_class = ARCHITECTURES[config.arch]
                G, D = G_class(**config.G_kwargs), D_class(**D_kwargs)
            self.G = G.train().requires_grad_(False).to(self.device)
            self.D = D.train().requires_grad_(False).to(self.device)
            if config.channels_last:
                # Channels-last weights; the StyleGAN2 networks then keep every activation channels-last.
                self.G.to(memory_format=torch.channels_last)
                self.D.to(memory_format=torch.channels_last)
            self.G_ema = copy.deepcopy(self.G).eval()
            self.augment_mode = augment
            self.augment = None
            self.ada = None
            if augment != "noaug":
                if augment_pipe is None:
                    augment_pipe = AdaptiveAugment(augpipe, p=p, color=color, mask_channels=config.mask_channels)
                self.augment = augment_pipe
                self.augment.to(self.device)
                self.ada = AdaController(
                    self.augment,
                    target=target if augment == "ada" else None,
                    interval=ada_interval,
                    speed_kimg=ada_kimg,
                )
            if loss is None:
                loss = StyleGAN2Loss(
                    self.G,
                    self.D,
                    self.augment,
                    r1_gamma=config.r1_gamma,
                    style_mixing_prob=config.style_mixing_prob,
                    pl_weight=config.pl_weight,
                    pl_batch_shrink=config.pl_batch_shrink,
                    pl_decay=config.pl_decay,
                    loss=config.loss,
                    gp_lambda=config.gp_lambda,
                )
            self.loss = loss
            if isinstance(self.loss, torch.nn.Module):
                self.loss.to(self.device)
        if self.world > 1:
            # Every process starts from rank 0's weights (they were seeded differently).
            for module in (self.G, self.D, self.G_ema, self.augment):
                for tensor in [*module.parameters(), *module.buffers()] if module is not None else []:
                    dist.broadcast(tensor.data, src=0)
        self.phases = self._phases()
        self._last_progress = 0.0
        self._warned_no_plots = False
        self.cur_nimg = 0
        self.cur_tick = 0
        self.batch_idx = 0
        self.run_options = {
            "augment": augment,
            "augpipe": augpipe,
            "color": color,
            "target": target,
            "p": p,
            "ada_interval": ada_interval,
            "ada_kimg": ada_kimg,
            "freeze_d": freeze_d,
            "seed": seed,
            "kimg_per_tick": kimg_per_tick,
            "own_parts": own_parts,
        }
        if resume is not None:
            self._resume(Path(resume))

    # --- setup --------------------------------------------------------------------------------

    @staticmethod
    def _check_dataset(config: TrainConfig, dataset: Dataset) -> None:
        if len(dataset) == 0:
            raise ValueError("the dataset is empty")
        masks = getattr(dataset, "mask_channels", 0)
        if masks != config.mask_channels:
            raise ValueError(
                f"the dataset has {masks} mask channel(s) but the config was resolved for {config.mask_channels} "
                "(resolve_config(mask_channels=...) must match the dataset's masks)"
            )
        image, label = dataset[0]
        expected = (config.net_channels, config.resolution, config.resolution)
        if tuple(image.shape) != expected:
            raise ValueError(f"dataset images have shape {tuple(image.shape)}, the config expects {expected}")
        if config.c_dim > 0 and label.numel() != config.c_dim:
            raise ValueError(
                f"a conditional run needs labels of {config.c_dim} classes, the dataset gives {label.numel()} "
                "(class subfolders or a dataset.json)"
            )

    @staticmethod
    def _check_own_parts(
        config: TrainConfig,
        G: torch.nn.Module | None,
        D: torch.nn.Module | None,
        augment: str,
        augment_pipe: AdaptiveAugment | None,
        loss: GANLoss | None,
        freeze_d: int,
        p: float,
    ) -> None:
        if (G is None) != (D is None):
            raise ValueError("G and D go together: pass both networks, or neither to build config.arch's")
        if loss is not None and G is None:
            raise ValueError("loss needs the networks it trains: pass G and D with it")
        if loss is not None and not callable(getattr(loss, "accumulate_gradients", None)):
            raise TypeError(f"loss ({type(loss).__name__}) has no accumulate_gradients(phase, real_img, real_c, ...)")
        if augment_pipe is not None:
            if not isinstance(augment_pipe, AdaptiveAugment):
                raise TypeError(f"augment_pipe must be an AdaptiveAugment, got {type(augment_pipe).__name__}")
            if augment == "noaug":
                raise ValueError("augment_pipe was given but augment='noaug': choose 'ada' or 'fixed'")
            if p:
                raise ValueError(f"p={p} was given with augment_pipe, which starts from its own p: set it there")
            if augment_pipe.mask_channels != config.mask_channels:
                raise ValueError(
                    f"augment_pipe moves {augment_pipe.mask_channels} mask channel(s); the config has "
                    f"{config.mask_channels}"
                )
            if loss is not None and getattr(loss, "augment", augment_pipe) is not augment_pipe:
                raise ValueError("loss augments with another pipeline than augment_pipe; build it with augment_pipe")
        if G is None:
            return
        for name, net in (("G", G), ("D", D)):
            if not isinstance(net, torch.nn.Module):
                kind = type(net).__name__
                raise TypeError(f"{name} must be a torch.nn.Module (its parameters are trained), got {kind}")
        check_generator(G)
        expected = {"img_resolution": config.resolution, "img_channels": config.net_channels, "c_dim": config.c_dim}
        for attribute, value in expected.items():
            if getattr(G, attribute) != value:
                raise ValueError(f"G.{attribute} is {getattr(G, attribute)!r}, but the config and dataset need {value}")
        if freeze_d:
            raise ValueError("freeze_d freezes the blocks of a discriminator built from config.arch, not of your own D")

    def _phases(self) -> list[_Phase]:
        phases = []
        config = self.config
        for name, module, interval in (("G", self.G, config.G_reg_interval), ("D", self.D, config.D_reg_interval)):
            params = list(module.parameters())
            if interval is None:
                opt = torch.optim.Adam(params, lr=config.lr, betas=config.betas, eps=config.eps)
                phases.append(_Phase(f"{name}both", module, opt, 1))
                continue
            # Lazy regularisation: the optimiser sees interval + 1 steps per interval minibatches.
            ratio = interval / (interval + 1)
            betas = (config.betas[0] ** ratio, config.betas[1] ** ratio)
            opt = torch.optim.Adam(params, lr=config.lr * ratio, betas=betas, eps=config.eps)
            phases += [_Phase(f"{name}main", module, opt, 1), _Phase(f"{name}reg", module, opt, interval)]
        return phases

    # --- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run (plain data; loads with ``weights_only=True``)."""
        optimizers = {}
        for phase in self.phases:
            optimizers.setdefault(phase.name[0], phase.optimizer.state_dict())
        streams = self.random.state_dict()
        return {
            "format": TRAINING_FORMAT,
            "version": 1,
            "config": self.config.to_dict(),
            "options": dict(self.run_options),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            # None for networks built by the caller: only their code can rebuild them.
            "G_init_kwargs": getattr(self.G, "init_kwargs", None),
            "D_init_kwargs": getattr(self.D, "init_kwargs", None),
            "augment": self.augment.state_dict() if self.augment is not None else None,
            "ada": self.ada.state_dict() if self.ada is not None else None,
            "optimizers": optimizers,
            "loss_buffers": {name: buffer.detach().cpu() for name, buffer in self._loss_buffers().items()},
            "cur_nimg": self.cur_nimg,
            "cur_tick": self.cur_tick,
            "batch_idx": self.batch_idx,
            "rng": streams["cpu"],
            "rng_cuda": streams["cuda"],
            "metrics": self.metrics.state_dict() if self.metrics is not None else None,
        }

    def _loss_buffers(self) -> dict[str, torch.Tensor]:
        """The loss's own buffers (StyleGAN2Loss: ``pl_mean``), not those of the networks and pipe it holds."""
        if not isinstance(self.loss, torch.nn.Module):
            return {}
        held = [module for module in (self.G, self.D, self.augment) if module is not None]
        shared = {id(tensor) for module in held for tensor in (*module.buffers(), *module.parameters())}
        return {name: buffer for name, buffer in self.loss.named_buffers() if id(buffer) not in shared}

    def _resume(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"resume checkpoint {str(path)!r} does not exist")
        if path.suffix == ".pkl":
            if not isinstance(self.D, StyleDiscriminator) or not isinstance(self.G, StyleGenerator):
                networks = f"{type(self.G).__name__}/{type(self.D).__name__}"
                raise ValueError(f"{str(path)!r} is a StyleGAN2-ADA snapshot; it cannot start a {networks} run")
            snap = load_stylegan2_ada(path)
            for name in ("G", "D", "G_ema"):
                if name in snap:
                    getattr(self, name).transfer_from(snap[name].state_dict())
            if self.augment is not None and "augment_p" in snap:
                self.augment.set_p(snap["augment_p"])
            return
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:
            raise CheckpointError(f"cannot read training checkpoint {str(path)!r}: {error}") from error
        if not isinstance(state, dict) or state.get("format") != TRAINING_FORMAT:
            raise CheckpointError(f"{str(path)!r} is not a medgan-aug training checkpoint")
        saved = state.get("config") or {}
        for key, default in (("arch", "stylegan2"), ("mask_channels", 0), ("img_channels", None)):
            value = getattr(self.config, key)
            if saved.get(key, default) != value:
                raise CheckpointError(
                    f"{str(path)!r} was trained with {key}={saved.get(key, default)!r}; this run has {key}={value!r}"
                )
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.G_ema.load_state_dict(state["G_ema"])
        except StateDictMismatchError as error:
            changes = [
                f"{group}[{key!r}]={saved[group].get(key)!r} there, {value!r} here"
                for group in ("G_kwargs", "D_kwargs")
                for key, value in getattr(self.config, group).items()
                if isinstance(saved.get(group), dict) and saved[group].get(key) != value
            ]
            raise CheckpointError(
                f"{str(path)!r} holds networks of another shape than this run's "
                f"({'; '.join(changes) or error}); resume with the settings it was trained with"
            ) from error
        if self.augment is not None and state["augment"] is not None:
            self.augment.load_state_dict(state["augment"])
            if state["ada"] is not None:
                self.ada.load_state_dict(state["ada"])
        for phase in self.phases:
            phase.optimizer.load_state_dict(state["optimizers"][phase.name[0]])
        # Checkpoints before 0.2 hold StyleGAN2Loss's one buffer as "pl_mean".
        saved_buffers = state.get("loss_buffers", {"pl_mean": state.get("pl_mean")})
        with torch.no_grad():
            for name, buffer in self._loss_buffers().items():
                if saved_buffers.get(name) is None:
                    raise CheckpointError(f"{str(path)!r} lacks the loss buffer {name!r} (trained with another loss?)")
                buffer.copy_(saved_buffers[name])
        self.cur_nimg = int(state["cur_nimg"])
        self.cur_tick = int(state["cur_tick"])
        self.batch_idx = int(state["batch_idx"])
        self.random.load_state_dict({"cpu": state["rng"], "cuda": state.get("rng_cuda")})
        if self.metrics is not None and state.get("metrics") is not None:
            self.metrics.load_state_dict(state["metrics"])

    def save_checkpoint(self) -> Path:
        """Write ``training-<kimg>.pt`` atomically and return its path."""
        path = self.outdir / f"training-{self.cur_nimg // 1000:06d}.pt"
        atomic_save(self.state_dict(), path)
        return path

    # --- training -----------------------------------------------------------------------------

    def _loader(self) -> DataLoader:
        per_process = self.config.batch // self.world
        sampler = InfiniteSampler(
            len(self.dataset), self.rank, self.world, seed=self.seed, start=self.batch_idx * per_process
        )
        return DataLoader(
            self.dataset,
            batch_size=per_process,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=self.num_workers > 0,
            # Its own generator: the loader must not draw from the global stream, or resuming would not
            # reproduce an uninterrupted run.
            generator=torch.Generator().manual_seed(self.seed * self.world + self.rank),
        )

    def _step(self, real_img: torch.Tensor, real_c: torch.Tensor, totals: _Totals) -> None:
        config = self.config
        conditional = config.c_dim > 0
        real_chunks = real_img.to(self.device).split(config.batch_gpu)
        c_chunks = real_c.to(self.device).split(config.batch_gpu)
        real_logits, fake_logits = [], []
        for phase in self.phases:
            if self.batch_idx % phase.interval:
                continue
            # n_critic discriminator steps (each on its own real batch) per generator step.
            if phase.name.startswith("G") and self.batch_idx % config.n_critic:
                continue
            phase.module.requires_grad_(True)
            phase.optimizer.zero_grad(set_to_none=True)
            for real, c in zip(real_chunks, c_chunks, strict=True):
                gen_z = torch.randn(real.shape[0], self.G.z_dim, device=self.device)
                # Generated labels follow the data's label distribution.
                gen_c = c[torch.randperm(c.shape[0], device=self.device)] if conditional else None
                stats = self.loss.accumulate_gradients(
                    phase.name,
                    real,
                    c if conditional else None,
                    gen_z,
                    gen_c,
                    gain=phase.interval / self.rounds,
                )
                # Sums stay on the device until the tick ends: reading them here would sync every round.
                for key, value in vars(stats).items():
                    if value is not None and "logits" not in key:
                        total, count = totals.get(key, (0.0, 0))
                        totals[key] = (total + value.sum().double(), count + value.numel())
                if phase.name in ("Dmain", "Dboth") and stats.real_logits is not None:
                    real_logits.append(stats.real_logits)
                    fake_logits.append(stats.fake_logits)
            phase.module.requires_grad_(False)
            params = [param for param in phase.module.parameters() if param.grad is not None]
            if params:
                if self.world > 1:
                    flat = torch.cat([param.grad.flatten() for param in params])
                    dist.all_reduce(flat)
                    flat /= self.world
                    for param, grad in zip(params, flat.split([p.numel() for p in params]), strict=True):
                        param.grad.copy_(grad.reshape(param.shape))
                for param in params:
                    torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            phase.optimizer.step()

        update_ema(self.G_ema, self.G, ema_beta(config.batch, config.ema_kimg, self.cur_nimg, config.ema_rampup))
        if self.ada is not None and real_logits:
            # A critic's values have no fixed zero: measure reals against the step's mean fake instead.
            offset = torch.cat(fake_logits).mean() if config.loss == "wgan-gp" else 0.0
            self.ada.observe(torch.cat(real_logits), offset)
        self.cur_nimg += config.batch
        self.batch_idx += 1

    def train(self, kimg: float | None = None) -> Path:
        """Train until ``kimg`` thousand real images have been shown (default: the config's).

        TF32 in CUDA float32 convolutions and matmuls is allowed while this runs exactly when
        ``config.allow_tf32`` is (see :func:`tf32_allowed`); torch's switches are restored after.

        Returns
        -------
        pathlib.Path
            The last checkpoint written.
        """
        with tf32_allowed(self.config.allow_tf32), self.random.active():
            return self._train(kimg)

    def _train(self, kimg: float | None) -> Path:
        total_nimg = int((kimg if kimg is not None else self.config.kimg) * 1000)
        if self.rank == 0:
            self._start_run_dir()
        grid_z, grid_c = self._grid_inputs()
        loader = iter(self._loader())
        last_checkpoint = None
        tick_start_nimg, tick_start_time = self.cur_nimg, time.perf_counter()
        totals: _Totals = {}
        done = self.cur_nimg >= total_nimg
        while not done:
            real_img, real_c = next(loader)
            self._step(real_img, real_c, totals)
            adjust_threads()
            done = self.cur_nimg >= total_nimg
            if self.progress:
                self._print_progress(total_nimg, tick_start_nimg, tick_start_time)
            if not done and self.cur_tick > 0 and self.cur_nimg < tick_start_nimg + self.kimg_per_tick * 1000:
                continue
            if self.progress:
                # End the bar's line so that what metrics and callbacks print starts on a line of its own.
                print(file=sys.stderr, flush=True)
            row = self._tick_row(totals, tick_start_nimg, tick_start_time)
            bad = [key for key, value in row.items() if isinstance(value, float) and not math.isfinite(value)]
            if bad:
                raise TrainingDivergedError(
                    f"{', '.join(bad)} became non-finite at {self.cur_nimg / 1000:.1f} kimg; the last checkpoint "
                    f"in {self.outdir} is intact (lower the learning rate or raise --gamma, then --resume it)"
                )
            if self.metrics is not None and self.metrics.due(self.cur_tick, done):
                done = self._evaluate(row) or done
            if self.rank == 0:
                append_stats(self.outdir / "stats.jsonl", row)
                for callback in self.callbacks:
                    callback.on_tick(self, row)
                if done or self.cur_tick % self.image_snapshot_ticks == 0:
                    fakes = self.outdir / f"fakes-{self.cur_nimg // 1000:06d}.png"
                    images = self._viewable(self._sample(grid_z, grid_c))
                    save_image_grid(images, fakes, self._grid_columns)
                    for callback in self.callbacks:
                        callback.on_images(self, images, self.cur_nimg / 1000)
                self._plot()
                if self.progress:
                    print(f"tick {self.cur_tick}: {json.dumps(row)}", file=sys.stderr, flush=True)
            if done or self.cur_tick % self.snapshot_ticks == 0:
                if self.rank == 0:
                    last_checkpoint = self._snapshot()
                if self.world > 1:
                    dist.barrier()
            self.cur_tick += 1
            tick_start_nimg, tick_start_time = self.cur_nimg, time.perf_counter()
            totals = {}
        if last_checkpoint is None and self.rank == 0:
            last_checkpoint = self._snapshot()
        if self.rank == 0:
            for callback in self.callbacks:
                callback.on_end(self, last_checkpoint)
        return last_checkpoint or self.outdir

    def _snapshot(self) -> Path:
        path = self.save_checkpoint()
        for callback in self.callbacks:
            callback.on_snapshot(self, path)
        return path

    # --- reports ------------------------------------------------------------------------------

    def _start_run_dir(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        info = {"config": self.config.to_dict(), "options": self.run_options, "world_size": self.world}
        describe = getattr(self.dataset, "describe", None)
        if callable(describe):
            info["dataset"] = describe()
        text = json.dumps(info, indent=2, default=str).encode()
        atomic_write(self.outdir / "config.json", lambda f: f.write(text))
        if not (self.outdir / "reals.png").exists():
            count = min(32, len(self.dataset))
            reals = torch.stack([self.dataset[i][0] for i in range(count)])
            save_image_grid(self._viewable(reals), self.outdir / "reals.png", self._grid_columns)

    @property
    def _grid_columns(self) -> int:
        return 16 if self.config.mask_channels else 8

    def _viewable(self, images: torch.Tensor) -> torch.Tensor:
        """Images ready for a grid: with masks, each image followed by its first mask (white foreground)."""
        channels = self.config.img_channels
        if not self.config.mask_channels:
            return images
        mask = torch.where(images[:, channels : channels + 1] > 0, 1.0, -1.0).expand(-1, channels, -1, -1)
        return torch.stack([images[:, :channels], mask], dim=1).flatten(0, 1)

    def _grid_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        generator = torch.Generator().manual_seed(self.seed)
        c_dim = self.config.c_dim
        if c_dim == 0:
            return torch.randn(32, self.G.z_dim, generator=generator).to(self.device), None
        # One row of 8 per class (at most 16 classes shown).
        classes = torch.arange(min(c_dim, 16)).repeat_interleave(8)
        z = torch.randn(len(classes), self.G.z_dim, generator=generator).to(self.device)
        return z, torch.nn.functional.one_hot(classes, c_dim).float().to(self.device)

    @torch.no_grad()
    def _sample(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        images = []
        for i in range(0, z.shape[0], self.config.batch_gpu):
            ci = c[i : i + self.config.batch_gpu] if c is not None else None
            images.append(generate_images(self.G_ema, z[i : i + self.config.batch_gpu], ci).cpu())
        return torch.cat(images)

    def metric_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents and labels of the images scored at every evaluation (the same each time).

        Labels are drawn from the dataset's, so a conditional generator is scored on the real class mix.
        """
        generator = torch.Generator().manual_seed(self.seed + 1)
        count = self.metrics.num_samples if self.metrics is not None else 0
        z = torch.randn(count, self.G.z_dim, generator=generator).to(self.device)
        if self.config.c_dim == 0:
            return z, None
        picks = torch.randint(len(self.dataset), (count,), generator=generator).tolist()
        label = getattr(self.dataset, "get_label", None) or (lambda i: self.dataset[i][1])
        return z, torch.stack([torch.as_tensor(label(i)) for i in picks]).float().to(self.device)

    def _evaluate(self, row: dict[str, Any]) -> bool:
        """Score G_ema into ``row`` (rank 0), keep the best snapshot; returns whether to stop early."""
        tracker = self.metrics
        stop = torch.zeros((), dtype=torch.int64, device=self.device)
        if self.rank == 0:
            # Metrics judge the images; a paired dataset hands the scorer its image channels only.
            fakes = self._sample(*self.metric_inputs())[:, : self.config.img_channels]
            results = tracker.scorer.score(self.dataset, fakes)
            row.update(results)
            kimg = self.cur_nimg / 1000
            if tracker.update(results, kimg):
                self._save_best(kimg, results)
            row[f"best_{tracker.key}"] = tracker.best
            stop.fill_(int(tracker.should_stop))
        if self.world > 1:
            dist.broadcast(stop, src=0)
        if stop.item() and self.rank == 0:
            print(
                f"stopping early: no better {tracker.key} in {tracker.patience} evaluations "
                f"(best {tracker.best:.4g} at {tracker.best_kimg} kimg, saved as best-network.pt)",
                file=sys.stderr,
                flush=True,
            )
        return bool(stop.item())

    def _save_best(self, kimg: float, results: dict[str, float]) -> None:
        path = self.outdir / "best-network.pt"
        if is_native_generator(self.G_ema):
            self.G_ema.save(path, metadata={"kimg": kimg, **results})
        else:
            # A network of the caller's own: its state dict, which its own code loads.
            atomic_save({"G_ema": self.G_ema.state_dict(), "kimg": kimg, "metrics": results}, path)

    def _tick_row(self, totals: _Totals, start_nimg: int, start_time: float) -> dict[str, Any]:
        means = {key: float(total) / count for key, (total, count) in totals.items() if count}
        if self.world > 1:
            keys = sorted(means)
            values = torch.tensor([means[k] for k in keys], dtype=torch.float64, device=self.device)
            dist.all_reduce(values)
            means = dict(zip(keys, (values / self.world).tolist(), strict=True))
        seconds = time.perf_counter() - start_time
        return {
            "tick": self.cur_tick,
            "kimg": self.cur_nimg / 1000,
            "sec_per_tick": round(seconds, 3),
            "img_per_sec": round((self.cur_nimg - start_nimg) / max(seconds, 1e-9), 3),
            **means,
            "p": self.augment.p.item() if self.augment is not None else 0.0,
            "r_t": self.ada.r_t if self.ada is not None else None,
            "time": time.time(),
        }

    def _plot(self) -> None:
        if not plotting_available():
            if not self._warned_no_plots:
                warnings.warn(
                    f"no loss.png, augment.png or metrics.png in {self.outdir}: {PLOTS_MISSING}; stats.jsonl holds "
                    "the numbers",
                    stacklevel=3,
                )
                self._warned_no_plots = True
            return
        rows = read_stats(self.outdir / "stats.jsonl")
        kimg = [row["kimg"] for row in rows]
        losses = {key: [row.get(key) for row in rows] for key in ("loss_g", "loss_d_real", "loss_d_fake")}
        plot_curves(self.outdir / "loss.png", kimg, losses, "losses vs kimg")
        augment = {"p": [row.get("p") for row in rows], "r_t": [row.get("r_t") for row in rows]}
        plot_curves(self.outdir / "augment.png", kimg, augment, "augmentation p and r_t vs kimg")
        if self.metrics is not None:
            key = self.metrics.key
            scored = [row for row in rows if key in row]
            if scored:
                curves = {key: [row[key] for row in scored]}
                plot_curves(self.outdir / "metrics.png", [row["kimg"] for row in scored], curves, f"{key} vs kimg")

    def _print_progress(self, total_nimg: int, start_nimg: int, start_time: float) -> None:
        now = time.perf_counter()
        if now - self._last_progress < 1.0 and self.cur_nimg < total_nimg:
            return
        self._last_progress = now
        rate = (self.cur_nimg - start_nimg) / max(time.perf_counter() - start_time, 1e-9)
        # The last minibatch may overshoot the target; the ETA then is 0, not a negative time.
        eta = max(total_nimg - self.cur_nimg, 0) / max(rate, 1e-9)
        done = self.cur_nimg / max(total_nimg, 1)
        bar = "#" * int(done * 30)
        print(
            f"\r[{bar:<30}] {self.cur_nimg / 1000:.2f}/{total_nimg / 1000:.2f} kimg  {rate:.1f} img/s  "
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}",
            end="",
            file=sys.stderr,
            flush=True,
        )
