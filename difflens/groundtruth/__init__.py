"""Ground truths: known differences an intervention is trained to have, and their data."""

from difflens.groundtruth.data import BASE_ID, allocate, example_row, generate_rows, split_rows
from difflens.groundtruth.spec import (
    BaseMix,
    GroundTruth,
    load_ground_truths,
    parse_ground_truth,
    parse_ground_truths,
)
from difflens.groundtruth.truthfulqa import misconception_ground_truths

__all__ = [
    "BASE_ID", "BaseMix", "GroundTruth", "allocate", "example_row", "generate_rows", "load_ground_truths",
    "misconception_ground_truths", "parse_ground_truth", "parse_ground_truths", "split_rows",
]
