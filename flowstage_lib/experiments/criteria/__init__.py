"""Every verdict rule of the book, written before its numbers are seen: one function per
claim, named after the paper's figure or table, its docstring stating the test, returning a
:class:`Verdict`. The core (``Verdict``, the one all/some/none rule :func:`verdict`,
:func:`identity_word`, :func:`tally`) is in ``_core``; the rules live in one module per
section (``sec2`` ... ``sec5``) and are all importable from here. Each rule has a passing and a
failing unit test in ``tests/experiments/test_criteria_sec*.py``.
"""

from flowstage_lib.experiments.criteria._core import *  # noqa: F403
from flowstage_lib.experiments.criteria.sec2 import *  # noqa: F403
from flowstage_lib.experiments.criteria.sec3 import *  # noqa: F403
from flowstage_lib.experiments.criteria.sec4 import *  # noqa: F403
from flowstage_lib.experiments.criteria.sec5 import *  # noqa: F403
