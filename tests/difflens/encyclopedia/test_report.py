"""The report states which targets are met, from the numbers."""

from difflens.encyclopedia.report import check_targets, render_markdown


def metrics(top1, cat=0.5, auroc=0.5):
    return {"top1": top1, "top5": top1, "category_top1": cat, "ece": 0.1, "confidence_auroc": auroc, "n": 10}


def test_targets_follow_the_numbers():
    rows = [
        {"stage": 1, "task": "described", "method": "interpreter", "pooling": "span_mean",
         "metrics": metrics(0.2, 0.4)},
        {"stage": 2, "task": "described", "method": "interpreter", "pooling": "span_mean",
         "metrics": metrics(0.1, 0.6, auroc=0.8)},
        {"stage": 2, "task": "described", "method": "input_only", "pooling": "span_mean", "metrics": metrics(0.3)},
        {"stage": 2, "task": "described", "method": "linear_probe", "pooling": "span_mean", "metrics": metrics(0.1)},
        {"stage": 2, "task": "described", "method": "interpreter", "pooling": "context_mean", "metrics": metrics(0.9)},
    ]
    met = {t["target"]: t["met"] for t in check_targets(rows, pooling="span_mean")}
    assert met == {
        "[span_mean] stage 2: interpreter top-1 beats the input-only baseline": False,
        "[span_mean] stage 2: interpreter top-1 at least level with the linear probe": True,
        "[span_mean] interpreter improves from stage 1 to stage 2 (top-1)": False,
        "[span_mean] interpreter improves from stage 1 to stage 2 (top-1 with category credit)": True,
        "[span_mean] stage 2: confidence AUROC >= 0.75 for predicting correctness": True,
    }
    caveats = {t["target"]: t.get("caveat", "") for t in check_targets(rows, pooling="span_mean")}
    auroc_target = "[span_mean] stage 2: confidence AUROC >= 0.75 for predicting correctness"
    assert "only 1 correct predictions" in caveats[auroc_target]
    md = render_markdown("t", rows, check_targets(rows, pooling="span_mean"), ["a note"])
    assert "**NOT met**: [span_mean] stage 2: interpreter top-1 beats" in md and "- a note" in md
