"""ImageData (the data contract) and the one uint8 codec."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import flowstage_lib
from flowstage_lib.data import ImageData, from_u8, load_dataset, normalise, to_u8


def test_subset_by_class_and_repr():
    d = load_dataset("mnist5k", "heldout")
    c3 = d.by_class(3)
    assert c3.N == 50 and (c3.y == 3).all() and c3.num_classes == 10
    s = d.subset([0, 2, 4])
    assert s.N == 3 and torch.equal(s.x[1], d.x[2])
    assert d.subset(slice(0, 5)).N == 5
    assert "N=500" in repr(d)
    with pytest.raises(ValueError, match="class"):
        d.by_class(10)


def test_imagedata_validation():
    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="labels length mismatch"):
        ImageData(x, y[:3], "t", 1)
    with pytest.raises(ValueError, match="float32"):
        ImageData(x.double(), y, "t", 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageData(x[:, 0], y, "t", 1)
    with pytest.raises(ValueError, match="labels must lie"):
        ImageData(x, y + 3, "t", 2)
    with pytest.raises(ValueError, match="decoder"):
        ImageData(x, y, "t", 1, kind="latent").to_pixels()
    lat = ImageData(x, y, "t", 1, kind="latent", decoder=lambda z: z * 0 + 1)
    assert lat.to_pixels().eq(1).all()


# ----------------------------------------------------------------------------- the uint8 codec


def test_to_u8_matches_the_formula_in_float64():
    x = torch.linspace(-1.3, 1.3, 2001).reshape(1, 3, 667)  # beyond [-1, 1]: clamped
    ref = np.rint((np.clip(x.double().numpy(), -1.0, 1.0) + 1.0) * 255.0 / 2.0)
    got = to_u8(x)
    assert got.dtype == torch.uint8 and got.shape == x.shape
    # float32 rounding may move a value sitting on a .5 boundary by one level, nothing more
    diff = np.abs(got.numpy().astype(np.int64) - ref.astype(np.int64))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert got.min() == 0 and got.max() == 255


def test_from_u8_inverts_to_u8_on_every_level():
    levels = torch.arange(256, dtype=torch.uint8)
    x = from_u8(levels)
    assert x.dtype == torch.float32
    ref = levels.double().numpy() / 127.5 - 1.0  # float64 re-derivation
    assert np.allclose(x.double().numpy(), ref, atol=1e-7, rtol=0)
    assert torch.equal(to_u8(x), levels)  # exact round trip on the 256 levels
    y = torch.rand(4, 1, 5, 5, dtype=torch.float64) * 2 - 1
    assert (from_u8(to_u8(y)).double() - y).abs().max() <= 1 / 255 + 1e-6  # half a level


def test_codec_bad_input_and_grad():
    with pytest.raises(TypeError, match="uint8"):
        from_u8(torch.zeros(3))
    with pytest.raises(TypeError, match="uint8"):
        from_u8(np.zeros(3, np.uint8))
    x = torch.zeros(2, requires_grad=True)
    assert to_u8(x).tolist() == [128, 128] and not to_u8(x).requires_grad


def test_normalise_levels_and_copy():
    v = torch.arange(17, dtype=torch.float32)  # digits' levels 0..16
    x = normalise(v, 8.0)
    assert x[0] == -1.0 and x[-1] == 1.0 and x[8] == 0.0
    assert v[0] == 0.0  # a new tensor: the input is not touched
    d = load_dataset("digits")
    assert torch.equal(normalise(torch.round((d.x + 1) * 8), 8.0), d.x)


def test_one_uint8_codec_in_the_package():
    """The codec is defined once (data/images.py); the others are the same objects."""
    from flowstage_lib.experiments import _shared

    assert _shared.to_u8 is to_u8 and _shared.from_u8 is from_u8
    root = Path(flowstage_lib.__file__).parent
    homes = {}
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in ("to_u8", "from_u8"):
                homes.setdefault(node.name, []).append(p.relative_to(root).as_posix())
            if isinstance(node, ast.Constant) and node.value == 127.5:
                homes.setdefault("127.5", []).append(p.relative_to(root).as_posix())
    assert homes == {k: ["data/images.py"] for k in ("to_u8", "from_u8", "127.5")}
