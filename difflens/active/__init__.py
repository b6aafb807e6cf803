"""Iterative active sampling: spend the generation budget where the two models differ."""

from difflens.active.planner import ActivePlanner, ActiveSamplingConfig, RoundPlan
from difflens.active.scoring import AreaScore, allocate_budget, boundary_uncertainty, score_areas
from difflens.active.stability import StabilityCheck, reference_labels, top_divergent
from difflens.active.targeting import TargetedPrompt, cut_prefix, targeted_prompts

__all__ = [
    "ActivePlanner", "ActiveSamplingConfig", "AreaScore", "RoundPlan", "StabilityCheck", "TargetedPrompt",
    "allocate_budget", "boundary_uncertainty", "cut_prefix", "reference_labels", "score_areas",
    "targeted_prompts", "top_divergent",
]
