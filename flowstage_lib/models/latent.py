"""Latent spaces for the paper's Sec. 5.3 study (Fig. 9 / 12: VA-VAE vs SD-VAE).

The paper compares flows trained in a semantically aligned latent space (VA-VAE, whose latents
are pulled towards DINOv2 features) with a reconstruction-only one (SD-VAE): the aligned
space's oracle loss is smoother and its gFID converges faster. This module trains a small
analogue on 28x28 images (the networks and the loss are in :mod:`.autoencoder`):

- ``kind="recon"`` (SD-VAE analogue): a conv :class:`Autoencoder` 1x28x28 -> 4x7x7 (D = 196)
  -> 1x28x28 trained on reconstruction MSE plus a tiny latent L2 (bounds the scale).
- ``kind="aligned"`` (VA-VAE analogue): the same plus VA-VAE's *vision-foundation alignment*
  loss (:func:`alignment_loss`) to the frozen :class:`~flowstage_lib.metrics.FeatureClassifier`
  feature maps, through a 1x1 linear projection of the latent patches.

:class:`LatentSpace` normalises latents to zero mean / unit std per channel (statistics of the
training set stored with the weights, like LightningDiT's VA-VAE latent statistics).

Example::

    train = load_dataset("mnist5k", "train")
    space, report = train_autoencoder(train, kind="aligned")
    z_data = space.to_image_data(train)     # ImageData(kind="latent"), x (4500, 4, 7, 7)
    x = space.decode(z_data.x[:8])           # (8, 1, 28, 28) in [-1, 1]
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from flowstage_lib.data import ImageData, heldout_for, load_dataset
from flowstage_lib.metrics import FeatureClassifier, get_classifier
from flowstage_lib.models.autoencoder import Autoencoder, alignment_loss
from flowstage_lib.models.spec import default_device, module_fingerprint
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.devices import key_device
from flowstage_lib.tooling.progress import tqdm

__all__ = [
    "Autoencoder",
    "AEReport",
    "LatentSpace",
    "train_autoencoder",
    "alignment_loss",
    "reconstruction_table",
]


@dataclass
class AEReport:
    """Autoencoder quality (one row of the reconstruction table).

    Attributes:
        recon_mse_train / recon_mse_heldout: per-pixel MSE in the data's normalised units
            ([-1, 1] pixels; divide by 4 for [0, 1] units). Held-out is NaN without held-out data.
        seconds: wall-clock training time (of the run that filled the cache).
        kind: ``"recon"`` | ``"aligned"``.
        steps: optimisation steps.
        latent_shape: (C, h, w) of the latent.
        psnr_heldout: PSNR in dB of the held-out reconstructions in [0, 1] units.
        align_cos: mean cosine between projected latent patches and classifier feature-map
            patches on held-out data (aligned kind; NaN for recon).
        linear_probe_accuracy: held-out accuracy of a linear (ridge) classifier on the flat
            normalised latents (how linearly "semantic" the space is; NaN without held-out).
    """

    recon_mse_train: float
    recon_mse_heldout: float
    seconds: float
    kind: str = "recon"
    steps: int = 0
    latent_shape: tuple = ()
    psnr_heldout: float = math.nan
    align_cos: float = math.nan
    linear_probe_accuracy: float = math.nan
    device: str = "cpu"


class LatentSpace:
    """A trained autoencoder plus per-channel latent statistics.

    ``encode`` returns latents normalised to zero mean and unit std per channel (over the
    training set), ``decode`` inverts the normalisation and decodes to pixels in [-1, 1].

    Attributes:
        autoencoder: the :class:`Autoencoder` (eval mode).
        mean, std: (C_z,) per-channel statistics of raw training latents.
        kind: ``"recon"`` | ``"aligned"``.
        report: its :class:`AEReport`.
    """

    def __init__(self, autoencoder, mean, std, kind: str, report: AEReport):
        self.autoencoder = autoencoder.eval()
        self.mean = mean.float().cpu()  # (C_z,)
        self.std = std.float().cpu()  # (C_z,)
        self.kind = kind
        self.report = report

    def __repr__(self) -> str:
        return f"LatentSpace(kind={self.kind!r}, latent_shape={self.report.latent_shape})"

    @property
    def device(self) -> torch.device:
        return next(self.autoencoder.parameters()).device

    def _stat(self, s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return s.to(like.device).view(1, -1, 1, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """(B, C, H, W) pixels in [-1, 1] -> (B, C_z, H/4, W/4) normalised latents (CPU)."""
        if x.ndim != 4 or x.shape[1] != self.autoencoder.config["in_channels"]:
            raise ValueError(f"x must be (B, {self.autoencoder.config['in_channels']}, H, W)")
        out = []
        for i in range(0, len(x), batch_size):
            z = self.autoencoder.encode(x[i : i + batch_size].float().to(self.device))
            out.append(((z - self._stat(self.mean, z)) / self._stat(self.std, z)).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """(B, C_z, h, w) normalised latents -> (B, C, 4h, 4w) pixels clamped to [-1, 1]
        (returned on z's device)."""
        if z.ndim != 4 or z.shape[1] != len(self.mean):
            raise ValueError(f"z must be (B, {len(self.mean)}, h, w), got {tuple(z.shape)}")
        out = []
        for i in range(0, len(z), batch_size):
            zi = z[i : i + batch_size].float().to(self.device)
            zi = zi * self._stat(self.std, zi) + self._stat(self.mean, zi)
            out.append(self.autoencoder.decode(zi).clamp(-1, 1).to(z.device))
        return torch.cat(out)

    def to_image_data(self, data: ImageData) -> ImageData:
        """Encode a pixel data set: ImageData(kind="latent") whose ``to_pixels`` decodes."""
        if data.kind != "pixels":
            raise ValueError(f"to_image_data needs pixel data, got kind={data.kind!r}")
        return ImageData(
            x=self.encode(data.x),
            y=data.y.clone(),
            name=f"{data.name}@ae-{self.kind}",
            num_classes=data.num_classes,
            kind="latent",
            decoder=self.decode,
        )


@torch.no_grad()
def _recon_mse(ae: Autoencoder, x: torch.Tensor, device, batch_size: int = 1000) -> float:
    tot = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        tot += float(F.mse_loss(ae(xb), xb, reduction="sum"))
    return tot / x.numel()


def _linear_probe(z_tr, y_tr, z_he, y_he, alpha: float = 1.0) -> float:
    """Held-out accuracy of a ridge classifier (least squares on one-hot labels, closed form)."""

    def design(z):
        z = z.flatten(1).double()
        return torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1)  # (n, d + 1)

    a = design(z_tr)
    k = int(max(y_tr.max(), y_he.max())) + 1
    t = F.one_hot(y_tr, k).double() * 2 - 1  # (n, k) in {-1, 1}
    w = torch.linalg.solve(a.T @ a + alpha * torch.eye(a.shape[1], dtype=a.dtype), a.T @ t)
    return float((design(z_he) @ w).argmax(1).eq(y_he).double().mean())


@dataclass(frozen=True)
class _Settings:
    """The training settings of :func:`train_autoencoder` (all part of the cache key)."""

    kind: str
    steps: int
    seed: int
    batch_size: int
    lr: float
    latent_channels: int
    width: int
    latent_l2: float
    align_weight: float
    margins: tuple[float, float]


def _build(data: ImageData, s: _Settings, classifier, device):
    """Seeded networks: the autoencoder and, for ``"aligned"``, the frozen classifier and the
    1x1 projection of latent patches to its feature width. Returns (ae, proj, clf)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        ae = Autoencoder(data.shape[0], s.latent_channels, s.width).to(device)
        proj = clf = None
        if s.kind == "aligned":
            clf = classifier.to(device).eval()  # frozen: only used under no_grad
            f_dim = clf.feature_maps(data.x[:1].to(device)).shape[1]
            proj = nn.Conv2d(s.latent_channels, f_dim, 1).to(device)
    return ae, proj, clf


def _fit(ae, proj, clf, data: ImageData, s: _Settings, device, progress: bool) -> float:
    """AdamW + one-cycle on reconstruction MSE + ``latent_l2`` |z|^2 (+ ``align_weight`` x the
    alignment loss); minibatches drawn by a generator seeded with ``s.seed``. Returns seconds."""
    params = list(ae.parameters()) + (list(proj.parameters()) if proj is not None else [])
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=max(s.steps, 1))
    g = torch.Generator().manual_seed(s.seed)
    t0 = time.perf_counter()
    ae.train()
    bar = tqdm(range(s.steps), desc=f"autoencoder {s.kind} {data.name}", disable=not progress)
    for _ in bar:
        idx = torch.randint(0, data.N, (s.batch_size,), generator=g)
        x = data.x[idx].to(device)  # (B, C, H, W)
        z = ae.encode(x)  # (B, C_z, H/4, W/4)
        loss = F.mse_loss(ae.decode(z), x) + s.latent_l2 * z.pow(2).mean()
        if proj is not None:
            with torch.no_grad():
                fmap = clf.feature_maps(x)  # (B, F, h, w)
            l_vf, _ = alignment_loss(proj(z), fmap, *s.margins)
            loss = loss + s.align_weight * l_vf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - t0
    ae.eval()
    return seconds


@torch.no_grad()
def _encode_raw(ae: Autoencoder, x: torch.Tensor, device) -> torch.Tensor:
    """(N, C, H, W) -> (N, C_z, H/4, W/4) raw (not normalised) latents on the CPU."""
    return torch.cat([ae.encode(x[i : i + 1000].to(device)).cpu() for i in range(0, len(x), 1000)])


def _assess(ae, proj, clf, data, heldout, s: _Settings, device, seconds: float) -> dict:
    """The cache blob: weights, per-channel latent statistics and the :class:`AEReport`."""
    raw = _encode_raw(ae, data.x, device)
    mean = raw.mean(dim=(0, 2, 3))  # (C_z,)
    std = raw.std(dim=(0, 2, 3)).clamp_min(1e-8)  # (C_z,)
    mse_tr = _recon_mse(ae, data.x, device)
    mse_he = psnr = cos = probe = math.nan
    if heldout is not None:
        mse_he = _recon_mse(ae, heldout.x, device)
        psnr = 10 * math.log10(4.0 / max(mse_he, 1e-12))
        raw_he = _encode_raw(ae, heldout.x, device)
        if proj is not None:
            with torch.no_grad():
                xs = heldout.x[:1000].to(device)
                _, c = alignment_loss(proj(ae.encode(xs)), clf.feature_maps(xs), *s.margins)
            cos = float(c)
        st = (mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1))
        probe = _linear_probe((raw - st[0]) / st[1], data.y, (raw_he - st[0]) / st[1], heldout.y)
    rep = asdict(
        AEReport(
            recon_mse_train=mse_tr,
            recon_mse_heldout=mse_he,
            seconds=seconds,
            kind=s.kind,
            steps=s.steps,
            latent_shape=tuple(raw.shape[1:]),
            psnr_heldout=psnr,
            align_cos=cos,
            linear_probe_accuracy=probe,
            device=device.type,
        )
    )
    rep["latent_shape"] = list(rep["latent_shape"])
    state = {k: v.cpu() for k, v in ae.state_dict().items()}
    return {"state_dict": state, "config": ae.config, "mean": mean, "std": std, "report": rep}


def _training_pixels(data: ImageData | str, kind: str) -> ImageData:
    """``data`` (a data set name: its ``"train"`` split) checked for :func:`train_autoencoder`:
    a known ``kind``, pixel data, sides divisible by 4."""
    if kind not in ("recon", "aligned"):
        raise ValueError(f"kind must be 'recon' or 'aligned', got {kind!r}")
    if isinstance(data, str):
        data = load_dataset(data, "train")
    if data.kind != "pixels":
        raise ValueError(f"train_autoencoder needs pixel data, got kind={data.kind!r}")
    if data.shape[1] % 4 or data.shape[2] % 4:
        raise ValueError(f"image sides must be divisible by 4, got {data.shape}")
    return data


def train_autoencoder(
    data: ImageData | str,
    kind: str = "recon",
    classifier: FeatureClassifier | None = None,
    steps: int = 2000,
    seed: int = 0,
    progress: bool = True,
    heldout: ImageData | None = None,
    batch_size: int = 64,
    lr: float = 2e-3,
    latent_channels: int = 4,
    width: int = 16,
    latent_l2: float = 1e-3,
    align_weight: float = 0.1,
    margins: tuple[float, float] = (0.1, 0.1),
) -> tuple[LatentSpace, AEReport]:
    """Train (once; cached) an autoencoder latent space for the paper's Fig. 9 / 12 study.

    Args:
        data: training pixels, or a data set name (its ``"train"`` split).
        kind: ``"recon"`` (reconstruction + ``latent_l2``; SD-VAE analogue) or ``"aligned"``
            (plus ``align_weight`` x alignment loss to the classifier feature maps; VA-VAE
            analogue).
        classifier: frozen feature network for ``"aligned"``; default ``get_classifier(data)``.
        steps, seed, batch_size, lr, latent_channels, width, latent_l2, align_weight, margins:
            training settings (all part of the cache key).
        progress: tqdm bar.
        heldout: images for the held-out reconstruction error; default the complementary
            held-out split of a ``load_dataset(name, "train")`` split.

    Returns:
        (LatentSpace, AEReport).
    """
    data = _training_pixels(data, kind)
    if heldout is None:
        heldout = heldout_for(data)
    if kind == "aligned" and classifier is None:
        classifier, _ = get_classifier(data, progress=progress)
    device = default_device()
    s = _Settings(
        kind,
        steps,
        seed,
        batch_size,
        lr,
        latent_channels,
        width,
        latent_l2,
        align_weight,
        tuple(margins),
    )
    params = {
        "data": cache.tensor_fingerprint(data.x),
        "labels": cache.tensor_fingerprint(data.y),
        "heldout": cache.tensor_fingerprint(heldout.x) if heldout is not None else None,
        "classifier": module_fingerprint(classifier) if kind == "aligned" else None,
        **asdict(s),
        "align_weight": align_weight if kind == "aligned" else None,
        "margins": list(margins) if kind == "aligned" else None,
        "device": key_device(),  # the profile's device, not this machine's
    }

    def compute() -> dict:
        ae, proj, clf = _build(data, s, classifier, device)
        seconds = _fit(ae, proj, clf, data, s, device, progress)
        return _assess(ae, proj, clf, data, heldout, s, device, seconds)

    blob = cache.cached("autoencoder", params, compute)
    ae = Autoencoder(**blob["config"])
    ae.load_state_dict(blob["state_dict"])
    rep = dict(blob["report"])
    rep["latent_shape"] = tuple(rep["latent_shape"])
    report = AEReport(**rep)
    return LatentSpace(ae.to(device), blob["mean"], blob["std"], kind, report), report


def reconstruction_table(reports):
    """pandas DataFrame of :class:`AEReport` rows (a dict name -> report, or a list of
    reports / LatentSpaces): the reconstruction error table of the latent-space study."""
    import pandas as pd

    if isinstance(reports, dict):
        items = list(reports.items())
    else:
        items = [(getattr(r, "kind", str(i)), r) for i, r in enumerate(reports)]
    rows = []
    for name, r in items:
        r = r.report if isinstance(r, LatentSpace) else r
        rows.append({"latent": name, **asdict(r)})
    return pd.DataFrame(rows).set_index("latent")
