"""`difflens discover`: config errors are one line; the quickstart config parses."""

from cli.discover import load_config
from cli.main import main
from tests.conftest import REPO


def test_quickstart_discover_config_parses():
    config = load_config(REPO / "configs/quickstart/discover.yaml")
    assert config.matching == "base_init" and config.assistant["backend"] == "offline"
    assert config.proposal.proposal_fraction < 0.5


def test_bad_discover_config_is_one_line(tmp_path, capsys):
    bad = tmp_path / "d.yaml"
    bad.write_text("texts: t.jsonl\noutput_dir: out\nn_clusterz: 3\n")
    assert main(["discover", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bad}: unknown key 'n_clusterz' (did you mean 'n_clusters'?)" in err
    missing = tmp_path / "m.yaml"
    missing.write_text(f"texts: {tmp_path / 'none.jsonl'}\noutput_dir: {tmp_path / 'out'}\n")
    assert main(["discover", "--config", str(missing)]) == 2
    assert "records file not found" in capsys.readouterr().err
