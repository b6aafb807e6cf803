"""Messages go through `logging`, scalars through any Lightning logger (not only TensorBoard)."""

import ast
import csv
import logging

import pytest
from pytorch_lightning.loggers import CSVLogger

from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

LIBRARY = ("difflens", "lightning_modules", "datamodules", "callbacks")


def test_no_print_in_library_code():
    found = []
    for package in LIBRARY:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, f"print in library code (use logging): {found}"


def test_validation_scalars_reach_a_csv_logger_and_messages_reach_logging(tmp_path, caplog):
    from tests.validation_data import validate_toy_inputs

    logger = CSVLogger(str(tmp_path), name="validate", version=0)
    with caplog.at_level(logging.INFO, logger="callbacks"):
        saffron = validate_toy_inputs(tmp_path, logger)
    with open(logger.experiment.metrics_file_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    alpha_t = [float(r["saffron/alpha_t"]) for r in rows if r.get("saffron/alpha_t")]
    assert alpha_t == pytest.approx([r["alpha_t"] for r in saffron.rows])
    found = sum(r["rejected"] for r in saffron.rows)
    assert [float(r["hp_metric"]) for r in rows if r.get("hp_metric")] == [found]
    assert f"[saffron] {found} of {len(saffron.rows)} hypotheses validated" in caplog.text


def test_the_cli_shows_library_messages_on_stdout(capsys):
    from difflens.logs import configure_logging

    configure_logging()
    configure_logging()  # twice: still one line per message
    logging.getLogger("difflens.discovery.pipeline").info("[discover] a message")
    assert capsys.readouterr().out == "[discover] a message\n"
