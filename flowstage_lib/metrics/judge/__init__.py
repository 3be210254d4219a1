"""Two judges of sample quality, trained with augmentation and referenced to held-out images.

Issue 13 (items 1-2): the first yardstick, :class:`flowstage_lib.metrics.evaluate.Evaluator`,
scores in the features of a CNN trained without noise and compares with the *training* split.
Its accuracy collapses under pixel noise, so its Frechet distance mostly measures speckle, and a
set of training copies scores best. A :class:`Judge` differs in three ways:

1. its network is trained on the mnist5k training split with augmentation that covers what
   samplers produce (noise up to sigma 0.3, blur, shifts, rotations; :mod:`.augment`);
2. its reference statistics come from the held-out MNIST test set
   (:func:`flowstage_lib.data.heldout_images`, which falls back to the mnist5k held-out split and
   says so in ``ref_note``);
3. there are two, of different architecture and seed (:func:`get_judges`), and a ranking counts
   only when both agree (:func:`kendall_tau`).

Example::

    judge_a, judge_b = get_judges("cpu")
    s = judge_a.score(samples, labels)      # JudgeScore(fd, kid, kid_se, precision, ...)
    tau = kendall_tau([s.fd for s in rows_a], [s.fd for s in rows_b])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from flowstage_lib.data import heldout_images
from flowstage_lib.metrics import extract_features, frechet_distance
from flowstage_lib.metrics.judge.augment import AugmentConfig
from flowstage_lib.metrics.judge.embed import Embedding, embed
from flowstage_lib.metrics.judge.scores import (
    PairedDifference,
    fd_score,
    kid,
    knn_radii,
    mean_score,
    paired_difference,
    prdc,
)
from flowstage_lib.metrics.judge.train import (
    JUDGE_STEPS,
    JudgeConfig,
    TrainReport,
    get_judge_network,
    with_steps,
)
from flowstage_lib.tooling import cache

__all__ = [
    "JUDGE_CONFIGS",
    "Judge",
    "JudgeScore",
    "KendallTau",
    "get_judge",
    "get_judges",
    "kendall_tau",
    "AugmentConfig",
    "JudgeConfig",
    "JUDGE_STEPS",
    "REF_IMAGES",
]

#: The two judges: different architecture, width and seed (steps are set per profile).
JUDGE_CONFIGS = {
    "A": JudgeConfig(arch="vgg", width=16, seed=0),
    "B": JudgeConfig(arch="pool", width=32, seed=1),
}

#: Reference images per profile (None: all; smoke: 2000 evenly spaced ones, for speed).
REF_IMAGES = {"smoke": 2000, "cpu": None, "gpu": None, "gpu-quick": None}


@dataclass
class JudgeScore:
    """Scores of one sample set under one judge.

    Attributes:
        fd: Frechet distance to the reference features (held-out images).
        kid, kid_se: unbiased KID and its standard error (:func:`.scores.kid`).
        precision, recall, density, coverage: k-NN scores (:func:`.scores.prdc`).
        accuracy: fraction of samples the judge labels with their requested class (NaN if
            no labels were given).
        n: number of samples.
    """

    fd: float
    kid: float
    kid_se: float
    precision: float
    recall: float
    density: float
    coverage: float
    accuracy: float
    n: int


@dataclass
class Judge:
    """A trained judge network with the reference statistics of held-out images.

    Attributes:
        name: ``"A"`` or ``"B"``.
        network: module with ``features(x)`` (B, F) and ``logits(x)`` (B, K), eval mode.
        config: how it was trained.
        report: training report (time, train / held-out accuracy).
        ref_feats: (N_ref, F) features of the reference images.
        ref_radii: (N_ref,) k-NN radii of ``ref_feats`` (k = ``k``).
        ref_note: which images are the reference (a sentence).
        k: neighbourhood size of precision / recall.
    """

    name: str
    network: nn.Module
    config: JudgeConfig
    report: TrainReport
    ref_feats: torch.Tensor
    ref_radii: np.ndarray
    ref_note: str
    k: int = 5

    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def embed(self, x: torch.Tensor) -> Embedding:
        """Features (B, F) and predicted classes (B,) of pixel images x (B, C, H, W) in
        [-1, 1], from one eval-mode pass of the network; the last few image sets are
        remembered by their fingerprint, so scoring a set and comparing it with another runs
        the network once per set (:func:`.embed.embed`)."""
        return embed(self.network, x, self._memo)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) judge features of pixel images x (B, C, H, W) in [-1, 1]."""
        return self.embed(x).features

    def correct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) float 1/0: the judge labels x[i] as y[i] (per-sample, for paired accuracy)."""
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        return (self.embed(x).pred == y.cpu()).float()

    def score(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kid_subsets: int = 100, seed: int = 0
    ) -> JudgeScore:
        """All scores of samples x (B, C, H, W) with requested labels y (B,) or None."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError(
                f"x must be a (B, C, H, W) tensor, got shape {tuple(getattr(x, 'shape', ()))}"
            )
        f = self.features(x)  # (B, F)
        k = kid(f, self.ref_feats, n_subsets=kid_subsets, seed=seed)
        pr = prdc(self.ref_feats, f, self.k, real_radii=self.ref_radii)
        acc = float(self.correct(x, y).double().mean()) if y is not None else float("nan")
        return JudgeScore(
            frechet_distance(f, self.ref_feats), k.kid, k.se, pr.precision, pr.recall,
            pr.density, pr.coverage, acc, int(len(x)),
        )  # fmt: skip

    def compare(
        self,
        xa: torch.Tensor,
        xb: torch.Tensor,
        y: torch.Tensor | None = None,
        n_boot: int = 200,
        seed: int = 0,
    ) -> dict[str, PairedDifference]:
        """Paired differences (a - b) of FD and, when labels ``y`` (B,) are given, accuracy.

        ``xa`` and ``xb`` (B, C, H, W) must come from the same noise and labels (row i of both
        from one seed): each bootstrap draw resamples the same rows of both
        (:func:`.scores.paired_difference`).

        Returns:
            ``{"fd": PairedDifference, "accuracy": PairedDifference}`` (accuracy only with y).
        """
        if xa.shape != xb.shape:
            raise ValueError(
                f"xa and xb must have the same shape, got {tuple(xa.shape)}, {tuple(xb.shape)}"
            )
        fd = fd_score(self.ref_feats)
        out = {
            "fd": paired_difference(fd, self.features(xa), self.features(xb), None, n_boot, seed)
        }
        if y is not None:
            ca, cb = self.correct(xa, y).numpy(), self.correct(xb, y).numpy()  # (B,), (B,)
            out["accuracy"] = paired_difference(mean_score, ca, cb, None, n_boot, seed)
        return out


def _weights_fingerprint(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode() + cache.tensor_fingerprint(t.reshape(-1)).encode())
    return h.hexdigest()[:16]


def get_judge(
    name: str, profile: str = "cpu", progress: bool = True, steps: int | None = None, k: int = 5
) -> Judge:
    """Judge ``name`` (``"A"`` or ``"B"``) trained with the profile's steps (or ``steps``)."""
    if name not in JUDGE_CONFIGS:
        raise ValueError(f"unknown judge name={name!r}; one of {list(JUDGE_CONFIGS)}")
    if profile not in JUDGE_STEPS:
        raise ValueError(f"unknown profile={profile!r}; one of {list(JUDGE_STEPS)}")
    config = with_steps(JUDGE_CONFIGS[name], steps if steps is not None else JUDGE_STEPS[profile])
    net, report = get_judge_network(config, progress=progress)
    ref, note = heldout_images(config.data)
    if REF_IMAGES[profile] is not None and REF_IMAGES[profile] < ref.N:
        ref = ref.subset(torch.arange(REF_IMAGES[profile]) * (ref.N // REF_IMAGES[profile]))
        note += f"; every {ref.N // REF_IMAGES[profile]}th of them, {REF_IMAGES[profile]} images"
    params = {"weights": _weights_fingerprint(net), "ref": cache.tensor_fingerprint(ref.x), "k": k}

    def compute() -> dict:
        f = extract_features(net, ref.x)  # (N_ref, F)
        return {"feats": f, "radii": torch.from_numpy(knn_radii(f, k))}

    blob = cache.cached("judge_ref", params, compute)
    return Judge(name, net, config, report, blob["feats"], blob["radii"].numpy(), note, k)


def get_judges(profile: str = "cpu", progress: bool = True) -> tuple[Judge, Judge]:
    """(judge A, judge B) for ``profile`` (each trained once and cached)."""
    return get_judge("A", profile, progress), get_judge("B", profile, progress)


@dataclass
class KendallTau:
    """Kendall's tau-b between two judges' scores of the same rows, and its two-sided p-value."""

    tau: float
    p_value: float
    n: int


def kendall_tau(rank_a, rank_b) -> KendallTau:
    """Agreement of two rankings (or scores: tau depends on the order only) of the same rows."""
    from scipy.stats import kendalltau

    a, b = np.asarray(rank_a, dtype=np.float64), np.asarray(rank_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(
            f"rank_a and rank_b must be 1-D of the same length >= 2, got {a.shape}, {b.shape}"
        )
    res = kendalltau(a, b)
    return KendallTau(float(res.statistic), float(res.pvalue), len(a))
