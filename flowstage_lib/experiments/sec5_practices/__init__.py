"""Section 5 and Appendix B: good practices from the two stages (``book/sec5_practices.ipynb``).

- :mod:`.grids`: where a grid's steps go; moving CFG intervals to our transition.
- :mod:`.scoring`: cached sample sets scored by both judges (FD, accuracy, KID, precision /
  recall, with intervals) and paired differences between rows.
- :mod:`.table2_shift`: Table 2 (timestep shift); :mod:`.grids`: Fig. 11's step shares;
  :mod:`.clock_contrast`: Table 2 with the native model on the mapped grid (issue 14 item 5).
- :mod:`.table3_cfg_interval`: Table 3 (CFG interval), pre-registered relative placement
  (verdicts) and the absolute one (contrast); :mod:`.clock_contrast3`: Table 3 with the native
  model on the mapped grid and guided on the mapped intervals (issue 14 item 5).
- :mod:`.figure8_velocity`: Fig. 8 (velocity norm, conditional / unconditional divergence).
- :mod:`.latent_study`, :mod:`.figure9_12_latent`, :mod:`.figure9_12_report`: Figs. 9 and 12
  (latent spaces).
- :mod:`.figure10_oracle_target`: Fig. 10 (oracle target, App. B).
- :mod:`.setting`, :mod:`.closing`: the chapter's opening and closing; :mod:`.plots`: figures.

The main setting is Section 4's *calibrated* one (issue 14; profile ``setting: calibrated``):
every model trains and samples on k x1 with Section 4's k (:func:`.setting.calibrated_setting`;
each latent space calibrated on its own latents, :func:`.figure9_12_latent.calibrate_spaces`),
and every sample is divided by k (then decoded) before a judge sees it. There Table 2's column
"steps in [0, 0.2]", Table 3's intervals (:func:`.setting.placement_factor`) and Fig. 8a's
t = 0.4 are the paper's own times.
"""

from flowstage_lib.experiments._models import model_id
from flowstage_lib.experiments._shared import summary, transition
from flowstage_lib.experiments.calibration import calibration_glue, calibration_table
from flowstage_lib.experiments.sec5_practices.clock_contrast import (
    ClockContrast,
    clock_check_table,
    clock_check_text,
    show_clock_check,
    table2_clock_check,
)
from flowstage_lib.experiments.sec5_practices.clock_contrast3 import (
    ClockContrast3,
    clock_check3_table,
    clock_check3_text,
    show_clock_check3,
    table3_clock_check,
)
from flowstage_lib.experiments.sec5_practices.closing import (
    all_claims,
    closing,
    judges_words,
    tally_table,
    why_text,
)
from flowstage_lib.experiments.sec5_practices.compute import export_tables  # noqa: E402
from flowstage_lib.experiments.sec5_practices.figure8_velocity import (
    Figure8,
    figure8,
    figure8_comparison,
    peak_time,
    rise_time,
    velocity_profile,
)
from flowstage_lib.experiments.sec5_practices.figure9_12_latent import (
    SPACES,
    Figure9_12,
    build_spaces,
    calibrate_spaces,
    fd_curves,
    figure9_12,
    final_memorized,
    floors,
    latent_table,
    losses,
    space_transitions,
    study_models,
)
from flowstage_lib.experiments.sec5_practices.figure9_12_report import (
    figure9_12_comparison,
    figure12_verdicts,
)
from flowstage_lib.experiments.sec5_practices.figure10_oracle_target import (
    figure10_comparison,
    figure10_verdicts,
)
from flowstage_lib.experiments.sec5_practices.grids import (
    fig11_shares,
    fig11_text,
    place_interval,
    snr_factor,
    step_share,
)
from flowstage_lib.experiments.sec5_practices.latent_study import (
    check_alignment_not_a_judge,
    checkpoint_samples,
    excess_variation,
    fd_over_training,
    judged_row,
    latent_spaces,
    loss_over_training,
    memorized_fraction,
    paired_excess,
    paired_fd,
    paired_over_training,
    share_lower,
    space_id,
    study_model,
)
from flowstage_lib.experiments.sec5_practices.scoring import (
    border_rms,
    detail_table,
    judged_reference,
    judged_sampler,
    judged_set,
    judged_table,
    paired,
    ranking,
    reference_fd,
    sample_images,
    score_sampler,
    show_judged,
)
from flowstage_lib.experiments.sec5_practices.setting import (
    Setting5,
    calibrated_setting,
    calibration_inputs,
    placement_factor,
    setting_table,
)
from flowstage_lib.experiments.sec5_practices.table2_shift import (
    Table2,
    label2,
    table2,
    table2_comparison,
    table2_export,
    table2_rows,
    table2_table,
)
from flowstage_lib.experiments.sec5_practices.table3_cfg_interval import (
    Table3,
    n_start0,
    placement_text,
    spearman,
    table3,
    table3_absolute_table,
    table3_comparison,
    table3_export,
    table3_rows,
    table3_samples,
    table3_table,
    table3_verdicts,
)

__all__ = [
    "model_id",
    "transition",
    "summary",
    "calibration_glue",
    "calibration_table",
    "step_share",
    "snr_factor",
    "place_interval",
    "fig11_shares",
    "fig11_text",
    "judged_set",
    "judged_sampler",
    "judged_reference",
    "paired",
    "judged_table",
    "detail_table",
    "ranking",
    "show_judged",
    "export_tables",
    "ClockContrast",
    "table2_clock_check",
    "clock_check_table",
    "clock_check_text",
    "show_clock_check",
    "ClockContrast3",
    "table3_clock_check",
    "clock_check3_table",
    "clock_check3_text",
    "show_clock_check3",
    "score_sampler",
    "reference_fd",
    "sample_images",
    "border_rms",
    "setting_table",
    "Setting5",
    "calibration_inputs",
    "calibrated_setting",
    "placement_factor",
    "table2_rows",
    "Table2",
    "table2",
    "table2_table",
    "table2_comparison",
    "table2_export",
    "label2",
    "table3_rows",
    "spearman",
    "Table3",
    "table3",
    "table3_table",
    "table3_comparison",
    "table3_absolute_table",
    "table3_export",
    "table3_samples",
    "table3_verdicts",
    "n_start0",
    "placement_text",
    "velocity_profile",
    "peak_time",
    "rise_time",
    "Figure8",
    "figure8",
    "figure8_comparison",
    "latent_spaces",
    "space_id",
    "study_model",
    "loss_over_training",
    "excess_variation",
    "paired_excess",
    "fd_over_training",
    "judged_row",
    "paired_over_training",
    "paired_fd",
    "check_alignment_not_a_judge",
    "checkpoint_samples",
    "memorized_fraction",
    "share_lower",
    "SPACES",
    "build_spaces",
    "calibrate_spaces",
    "study_models",
    "space_transitions",
    "latent_table",
    "losses",
    "fd_curves",
    "floors",
    "final_memorized",
    "Figure9_12",
    "figure9_12",
    "figure9_12_comparison",
    "figure12_verdicts",
    "figure10_comparison",
    "figure10_verdicts",
    "all_claims",
    "judges_words",
    "tally_table",
    "closing",
    "why_text",
]
