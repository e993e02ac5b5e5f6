"""Provenance (inr_recover/run/provenance.py): the config's fingerprint (results.json config_sha) ignores what cannot
change the numbers and changes with what can."""
import subprocess

import pytest
import torch
from conftest import ROOT, TINY, compose_config

from inr_recover.run.provenance import fingerprint


@pytest.mark.parametrize("override", ["progress=true", "checkpoint.every=7", "checkpoint.resume=false", "device=cpu",
                                      "device=cuda"])
def test_fingerprint_ignores_what_cannot_change_the_numbers(override):
    assert fingerprint(compose_config(*TINY, override)) == fingerprint(compose_config(*TINY))


@pytest.mark.parametrize("override", ["seed=1", "model.width=17", "degrade.seed=1", "optim.lr=0.0123", "model=siren",
                                      "eval_every=3", "select=holdout", "data.shape=[32,32,9]"])
def test_fingerprint_changes_with_what_can_change_the_numbers(override):
    assert fingerprint(compose_config(*TINY, override)) != fingerprint(compose_config(*TINY))


def test_process_record_names_the_source_commit_and_the_machine():
    """What a results table's stamp reads: the checkout's commit (``+dirty`` with changed tracked files; None for a
    wheel, tested in test_installed), the CPU cores this process may use, no GPU on a CPU machine."""
    from inr_recover.run.provenance import process_record

    rec = process_record(0.0)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and (ROOT / ".git").exists():
        assert rec["commit"].split("+")[0] == head.stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        assert rec["commit"].endswith("+dirty") == bool(dirty)
    assert rec["machine"]["cpu_cores"] >= 1
    assert (rec["machine"]["gpu"] is None) == (not torch.cuda.is_available())
