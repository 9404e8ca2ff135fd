"""Which comparisons a run makes: all pairs of images (1:1), or gallery and probe roles (1:N).

Plans reduce images to the integer codes of :mod:`fairbench.core.codes`; the engine runs
kernels over them.
"""

from fairbench.plan.allpairs import make_plan, mated_pairs
from fairbench.plan.search import GALLERY, MATED, NONMATED, SearchPlan, make_search_plan

__all__ = ["GALLERY", "MATED", "NONMATED", "SearchPlan", "make_plan", "make_search_plan",
           "mated_pairs"]
