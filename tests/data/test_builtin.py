"""Data that ships with a dependency and synthetic tensors (inr_recover/data/builtin.py)."""
import numpy as np

from inr_recover.data.builtin import skimage_image, synthetic


def test_builtin_sources():
    a = skimage_image("astronaut", "astronaut", resize=[64, 64])
    assert a.values.shape == (64, 64, 3) and a.values.dtype == np.float32
    s = synthetic("s", shape=[8, 9, 3], kind="lowrank", rank=2)
    assert s.values.shape == (8, 9, 3) and 0 <= s.values.min() and s.values.max() <= 1
