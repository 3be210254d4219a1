"""Table 3's clock cross-check (issue 14, item 5): the native model on the mapped grid, guided on
the mapped intervals, against the calibrated model on the plain grid. With the oracle as both
models the identity is exact (the two sets agree up to the cache's uint8 rounding), so the FDs
and the verdicts must agree; with toy networks the function runs end to end; the compute path
makes the notebook's call."""

import ast
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import criteria
from flowstage_lib.experiments import sec5_practices as sec5
from flowstage_lib.experiments.sec5_practices import compute as sec5_compute
from flowstage_lib.models import ModelSpec, build_model
from flowstage_lib.oracle import OracleVelocity

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (1, 8, 8)
K = 3
T_INT = (0.09, 0.12)
DESC = {"native": "oracle x", "calibrated": "oracle k x"}


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)


def _data(n_per_class=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(K, *SHAPE, generator=g)
    y = torch.arange(K).repeat_interleave(n_per_class)
    x = (0.6 * centres[y] + 0.2 * torch.randn(len(y), *SHAPE, generator=g)).clamp(-1, 1).float()
    return ImageData(x=x, y=y, name="toy/train", kind="pixels", num_classes=K)


class _LinearJudge(torch.nn.Module):
    """A random linear feature map (O(1) features, so Frechet distances are not ~0)."""

    def __init__(self, seed: int, n_feat: int = 6):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(math.prod(SHAPE), n_feat, generator=g) / 4)
        self.head = torch.nn.Parameter(torch.randn(n_feat, K, generator=g))

    def features_and_logits(self, x):
        f = x.flatten(1) @ self.w
        return f, f @ self.head


def _panel(data):
    """Two tiny random judges whose reference is ``data``."""
    from flowstage_lib.metrics.judge import Judge, JudgeConfig
    from flowstage_lib.metrics.judge.panel import Panel
    from flowstage_lib.metrics.judge.scores import knn_radii

    judges = []
    for name, seed in (("A", 0), ("B", 1)):
        net = _LinearJudge(seed).eval()
        ref = net.features_and_logits(data.x)[0].detach()
        judges.append(Judge(name, net, JudgeConfig(), None, ref, knn_radii(ref, 3), "t", K))
    return Panel(tuple(judges), n_boot=50, seed=0)


def _oracles(data, k):
    x = data.x.double()
    native = OracleVelocity(x, labels=data.y, dtype=torch.float64)
    return native, OracleVelocity(k * x, labels=data.y, dtype=torch.float64)


def _oracle_check(k, n_steps, n=12):
    data = _data()
    native, calib = _oracles(data, k)
    kw = dict(data_scale=k, shape=SHAPE, num_classes=K, describe=DESC)
    rows = sec5.table3_rows(1.0)
    panel = _panel(_data(seed=1))  # a reference other than the oracle's training set
    return sec5.table3_clock_check(native, calib, panel, rows, 2.5, n, n_steps, 0, T_INT,
                                   **kw)  # fmt: skip


def test_oracle_in_both_clocks_gives_equal_fds_and_equal_verdicts():
    c = _oracle_check(k=3.0, n_steps=50)
    assert c.k == 3.0 and not c.skipped and not c.untested
    assert len(c.between) == 22 and set(c.scores["native"]) == {r["label"] for r in c.rows}
    for lab in c.between:
        for j in ("A", "B"):
            fd_n, fd_c = c.scores["native"][lab][j]["fd"], c.scores["calibrated"][lab][j]["fd"]
            assert fd_n == pytest.approx(fd_c, rel=0.02, abs=1e-3), (lab, j, fd_n, fd_c)
            d = c.between[lab][j]["fd"]
            assert abs(d["delta"]) <= 0.02 * abs(fd_c) + 1e-3
            assert d["delta"] == pytest.approx(d["a"] - d["b"])
    for claim in ("c1", "c2", "c3"):
        assert set(c.verdicts["native"][claim]) == {"A", "B", "both"}
        for j in ("A", "B", "both"):
            assert c.agree(claim, j), (claim, j)
    # guidance changed the samples: the verdicts are taken on rows that differ
    none, full = c.scores["native"]["none"]["A"]["fd"], c.scores["native"]["[0, 1]"]["A"]["fd"]
    assert abs(none - full) > 1e-3
    assert "agree on 3 of 3 claims" in sec5.clock_check3_text(c)
    # c2 is Table 3's rule on each model's own pairs: 4/4 resolved -> reproduced, 2-3 partly
    for role in ("native", "calibrated"):
        for j in ("A", "B"):
            v = c.verdicts[role]["c2"][j]
            n = int(v.evidence.split("/")[0])
            assert 0 <= n <= len(criteria.TABLE3_PAIRS)
            assert v.verdict == ("reproduced" if n == 4 else "partly" if n >= 2 else
                                 "not reproduced")  # fmt: skip


def test_rows_on_a_grid_point_are_skipped_and_their_claims_not_judged():
    # on a 10-step grid 0.3 is 0.30000000000000004: with k = 6.1 the mapped endpoints of
    # [.2, .3], [.3, .4] and [.1, .3] fall on the other side of the mapped grid time
    c = _oracle_check(k=6.1, n_steps=10, n=6)
    assert set(c.skipped) == {"[.2, .3]", "[.3, .4]", "[.1, .3]"}
    assert all("rounding" in why for why in c.skipped.values())
    assert set(c.untested) == {"c1", "c3"} and set(c.verdicts["native"]) == {"c2"}
    assert c.agree("c1") is None and c.agree("c2") is not None
    tab = sec5.clock_check3_table(c)
    assert len(tab) == 22 + 3
    assert (tab[tab.row == "[.2, .3]"].iloc[0, 1:] == "skipped").all()
    assert tab.iloc[-3, 1] == "not judged"
    text = sec5.clock_check3_text(c)
    assert "Skipped" in text and "[.3, .4]" in text and "agree on" in text


def _result(k, key):
    torch.manual_seed(0)
    spec = ModelSpec("mlp", "S", SHAPE, K, {"width": 32, "depth": 1}, data_scale=k, sigma_data=0.58)
    m = build_model(spec)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return SimpleNamespace(model=m.eval(), spec=spec, key=key, cfg=None, snapshots=[], steps=3)


def test_toy_networks_give_verdicts_per_claim_and_role():
    data, native, calib = _data(), _result(1.0, "toy-native"), _result(4.0, "toy-calibrated")
    panel, rows = _panel(data), sec5.table3_rows(1.0)
    c = sec5.table3_clock_check(native, calib, panel, rows, 2.5, 12, 50, 0, T_INT)
    assert c.k == 4.0 and c.n == 12 and set(c.verdicts) == {"native", "calibrated"}
    for role in c.verdicts:
        assert set(c.verdicts[role]) == {"c1", "c2", "c3"}
        for v in c.verdicts[role].values():
            assert set(v) == {"A", "B", "both"}
            assert v["both"].verdict in ("reproduced", "partly", "not reproduced")
    lab = "[.1, .5]"
    assert c.between[lab]["A"]["fd"]["a"] == pytest.approx(
        c.scores["native"][lab]["A"]["fd"], rel=1e-4
    )
    tab = sec5.clock_check3_table(c)
    assert len(tab) == 25 and tab.row.iloc[-1].startswith("verdict: ")
    assert set(tab.iloc[-1, 1:]) <= {"reproduced", "partly", "not reproduced", "agree", "differ"}
    split = [(cl, j) for cl in c.verdicts["native"] for j in ("A", "B") if not c.agree(cl, j)]
    assert ("per judge they differ on" in sec5.clock_check3_text(c)) == bool(split)
    seen = {}
    view = SimpleNamespace(show=lambda df, name: seen.update(name=name),
                           glue=lambda **kw: seen.update(kw))  # fmt: skip
    assert sec5.show_clock_check3(view, c) == seen["clock3_text"]
    assert seen["name"] == "table3_clock_check"
    # k = 1: nothing to contrast
    assert sec5.table3_clock_check(native, native, panel, rows, 2.5, 12, 50, 0, T_INT) is None
    assert "native" in sec5.show_clock_check3(view, None)


def test_bad_inputs_name_the_parameter():
    data, native, calib = _data(), _result(1.0, "toy-native"), _result(4.0, "toy-calibrated")
    panel, rows = _panel(data), sec5.table3_rows(1.0)
    with pytest.raises(ValueError, match="first without guidance"):
        sec5.table3_clock_check(native, calib, panel, rows[1:], 2.5, 6, 10, 0, T_INT)
    with pytest.raises(ValueError, match="t_interval"):
        sec5.table3_clock_check(native, calib, panel, rows, 2.5, 6, 10, 0, (math.nan, 0.1))
    with pytest.raises(ValueError, match="lack one of"):
        bad = [rows[0], {"label": "x", "a": 0.1}]
        sec5.table3_clock_check(native, calib, panel, bad, 2.5, 6, 10, 0, T_INT)


def _call_args(source: str, name: str) -> list[str]:
    """The argument expressions of the call of ``name`` in ``source`` (directly, or as the
    function ``V.timed`` runs), lower-cased."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = ast.unparse(node.func)
        if f.endswith(name):
            return [ast.unparse(a).lower() for a in node.args]
        if f == "V.timed" and ast.unparse(node.args[1]).endswith(name):
            return [ast.unparse(a).lower() for a in node.args[2:]]
    raise AssertionError(f"no call of {name}")


def test_compute_makes_the_notebooks_call():
    """The notebook runs the cross-check through compute(P) (one call list, not two) and
    reads its result; compute calls it with Table 3's rows and interval."""
    nb = json.loads((ROOT / "book" / "sec5_practices.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any("table3_clock_check" in c for c in code)  # no second call list
    assert any("C = compute(P)" in c for c in code)
    assert any("show_clock_check3(V, C.CC3)" in c for c in code)
    ours = _call_args(Path(sec5_compute.__file__).read_text(), "table3_clock_check")
    assert ours[3:] == ["t3.rows", "p.cfg_scale", "p.n_clock_check", "p.n_steps", "p.seed",
                        "t3.t_interval"]  # fmt: skip
