"""Each method trains with its own published learning rate unless optim.lr is given."""
import pytest
from hydra import compose, initialize_config_dir

from conftest import CONF


def _cfg(*o):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(o))


@pytest.mark.parametrize("model,lr", [("choir", 3e-3), ("siren", 1e-4), ("finer", 5e-4), ("scone", 1e-4)])
def test_model_names_its_learning_rate(model, lr):
    assert _cfg(f"model={model}").optim.lr == pytest.approx(lr)


def test_explicit_optim_lr_wins():
    assert _cfg("model=siren", "optim.lr=0.01").optim.lr == pytest.approx(0.01)
    assert _cfg("model=choir", "model.lr=0.02").optim.lr == pytest.approx(0.02)
