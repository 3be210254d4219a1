"""How a judge holds up on corrupted digits (issue 13, item 1: its page in the book).

Targets from the issue: accuracy >= 99% on clean MNIST test images and >= 95% under
N(0, 0.2^2) pixel noise (pixels in [-1, 1]). Noisy images are clamped to [-1, 1], as every
sample set is (they are stored as uint8). The old evaluator classifier fell to 37% there
(issue 13).

Measured for the cpu profile (3000 steps, ~7 CPU minutes per judge on one thread), on the
10,000 MNIST test images: judge A 99.29% clean, 99.27 / 99.26 / 99.37% at sigma 0.1 / 0.2 /
0.3, 99.16% under blur 1 px, 99.24% shifted, 99.23% rotated (99.24% at sigma 0.2 unclamped);
judge B 99.26% clean, 99.25 / 99.18 / 99.22%, 98.93% under blur (shift/rotate not measured).
At 1500 steps both stayed just under 99% clean (98.98% and 98.82% on the first 5,000 test
images). The smoke profile's 30 steps give a poor judge (30-80%): it only exercises the code.

Example::

    rep = robustness_report(judge_a)       # RobustnessReport(clean=0.99.., noise_0_2=..., ...)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flowstage_lib.data import ImageData, heldout_images
from flowstage_lib.metrics import class_accuracy, wilson_interval
from flowstage_lib.metrics.judge.augment import add_noise, affine_jitter, gaussian_blur

__all__ = ["CLEAN_TARGET", "NOISE_TARGET", "RobustnessReport", "robustness_report"]

CLEAN_TARGET = 0.99  # accuracy on clean held-out images
NOISE_TARGET = 0.95  # accuracy under N(0, 0.2^2) pixel noise


@dataclass
class RobustnessReport:
    """Accuracy of one judge on held-out digits, clean and corrupted.

    Attributes:
        judge: the judge's name.
        clean: accuracy on clean images.
        noise_0_1, noise_0_2, noise_0_3: accuracy under N(0, sigma^2) noise, sigma 0.1/0.2/0.3.
        blur: accuracy under Gaussian blur of std 1 pixel.
        shift: accuracy under a random shift of up to 2 pixels per axis.
        rotate: accuracy under a random rotation of up to 10 degrees.
        n: number of images.
        clean_ci, noise_0_2_ci: Wilson 95% intervals of ``clean`` and ``noise_0_2``.
        meets_targets: clean >= 0.99 and noise_0_2 >= 0.95.
        data_note: which images were used.
    """

    judge: str
    clean: float
    noise_0_1: float
    noise_0_2: float
    noise_0_3: float
    blur: float
    shift: float
    rotate: float
    n: int
    clean_ci: tuple[float, float]
    noise_0_2_ci: tuple[float, float]
    meets_targets: bool
    data_note: str


def _corruptions(x: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    B = len(x)
    out = {"clean": x}
    for s in (0.1, 0.2, 0.3):
        out[f"noise_{s}".replace(".", "_")] = add_noise(x, s, g).clamp(-1, 1)
    out["blur"] = gaussian_blur(x, 1.0)
    zero = torch.zeros(B)
    out["shift"] = affine_jitter(x, (torch.rand(B, 2, generator=g) * 2 - 1) * 2.0, zero)
    out["rotate"] = affine_jitter(x, torch.zeros(B, 2), (torch.rand(B, generator=g) * 2 - 1) * 10)
    return out


def robustness_report(judge, data: ImageData | None = None, n: int | None = None, seed: int = 0):
    """Accuracy of ``judge`` on clean and corrupted held-out images.

    Args:
        judge: a :class:`~flowstage_lib.metrics.judge.Judge` (or a module with logits, named "").
        data: images (default: :func:`flowstage_lib.data.heldout_images`, the MNIST test set).
        n: use the first n images (default: all).
        seed: noise / jitter draws.

    Returns:
        RobustnessReport.
    """
    net = getattr(judge, "network", judge)
    name = getattr(judge, "name", "")
    if data is None:
        data, note = heldout_images("mnist5k")
    else:
        note = f"images: {data.name} ({data.N})"
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        data = data.subset(slice(0, n))
    g = torch.Generator().manual_seed(seed)
    acc = {k: class_accuracy(net, v, data.y) for k, v in _corruptions(data.x, g).items()}
    N = data.N
    return RobustnessReport(
        judge=name,
        **acc,
        n=N,
        clean_ci=wilson_interval(round(acc["clean"] * N), N),
        noise_0_2_ci=wilson_interval(round(acc["noise_0_2"] * N), N),
        meets_targets=acc["clean"] >= CLEAN_TARGET and acc["noise_0_2"] >= NOISE_TARGET,
        data_note=note,
    )
