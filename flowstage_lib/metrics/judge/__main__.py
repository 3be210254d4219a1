"""Train (or load) both judges of a profile and print their robustness.

Usage: ``python -m flowstage_lib.metrics.judge [smoke|cpu|gpu] [n_images]``
"""

from __future__ import annotations

import sys

from flowstage_lib.metrics.judge import get_judges
from flowstage_lib.metrics.judge.robustness import robustness_report


def main(argv: list[str]) -> None:
    profile = argv[0] if argv else "cpu"
    n = int(argv[1]) if len(argv) > 1 else None
    for judge in get_judges(profile):
        r, t = robustness_report(judge, n=n), judge.report
        print(
            f"judge {judge.name} ({t.arch}, {t.parameters} parameters, {t.steps} steps, "
            f"{t.seconds:.0f} s wall, {t.cpu_seconds:.0f} s CPU on {t.device}): "
            f"held-out {t.heldout_accuracy:.4f}; "
            f"clean {r.clean:.4f}, noise 0.1/0.2/0.3 {r.noise_0_1:.4f}/{r.noise_0_2:.4f}/"
            f"{r.noise_0_3:.4f}, blur {r.blur:.4f}, shift {r.shift:.4f}, rotate {r.rotate:.4f} "
            f"(n={r.n}; targets met: {r.meets_targets})"
        )
    print(r.data_note)


if __name__ == "__main__":
    main(sys.argv[1:])
