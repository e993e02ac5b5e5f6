"""Provenance (inr_recover/provenance.py): the config's fingerprint (results.json config_sha) ignores what cannot
change the numbers and changes with what can."""
import pytest

from inr_recover.provenance import fingerprint

from conftest import TINY, compose_config


@pytest.mark.parametrize("override", ["progress=true", "checkpoint.every=7", "checkpoint.resume=false", "device=cpu",
                                      "device=cuda"])
def test_fingerprint_ignores_what_cannot_change_the_numbers(override):
    assert fingerprint(compose_config(*TINY, override)) == fingerprint(compose_config(*TINY))


@pytest.mark.parametrize("override", ["seed=1", "model.width=17", "degrade.seed=1", "optim.lr=0.0123", "model=siren",
                                      "eval_every=3", "select=holdout", "data.shape=[32,32,9]"])
def test_fingerprint_changes_with_what_can_change_the_numbers(override):
    assert fingerprint(compose_config(*TINY, override)) != fingerprint(compose_config(*TINY))
