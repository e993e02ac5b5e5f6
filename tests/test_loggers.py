"""Training-curve loggers (inr_recover/run/loggers.py) and the logger option of a run."""
from inr_recover.run.loggers import CSVLogger


def test_csv_logger_writes_one_row_per_evaluation_point(tmp_path):
    CSVLogger().write(tmp_path, {"iteration": [2, 4], "loss": [0.5, 0.25], "oracle_psnr": [10.0, 12.5]})
    assert (tmp_path / "curves.csv").read_bytes() == b"iteration,loss,oracle_psnr\r\n2,0.5,10.0\r\n4,0.25,12.5\r\n"


def test_run_writes_the_history_it_recorded(tiny):
    r, out = tiny("task=restore", "degrade=scene3")
    rows = (out / "curves.csv").read_text().splitlines()
    assert rows[0] == "iteration,seconds,loss,lr,holdout,oracle_psnr" and [row.split(",")[0] for row in rows[1:]] == [
        "2",
        "4",
    ]
    _, out = tiny("logger=none")
    assert not (out / "curves.csv").exists() and (out / "results.json").is_file()
