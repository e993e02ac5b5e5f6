"""inr-recover-bench (inr_recover/cli/bench.py): the smoke run writes the report it prints."""
import json

from inr_recover.cli.bench import main


def test_bench_smoke_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["--smoke", "--out", str(out), "--override", "model.width=16", "--override", "model.depth=1"]) == 0
    rep = json.loads(out.read_text())
    row = rep["results"][0]
    assert row["method"] == "choir" and row["shape"] == "synthetic-64"
    for mode in ("plain", "fast"):
        assert row[mode]["step"]["n"] == 1 and row[mode]["step"]["median"] > 0
    assert row["ratio_plain_over_fast"] == row["plain"]["step"]["median"] / row["fast"]["step"]["median"]
    assert rep["machine"]["cpus"] >= 1
