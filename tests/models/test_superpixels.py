"""Generalized superpixels (inr_recover/models/superpixels.py): coverage, connectivity, only observed entries, S-INR's
overlap rings."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import extended_superpixel, random_observation
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsRegressor

from inr_recover.models.superpixels import connected_labels, overlap_members, segmentation_channels, superpixels


@pytest.mark.parametrize("grid", [(40, 36), (12, 10, 6)])
def test_superpixels_cover_every_point_once_and_are_connected(grid):
    obs = random_observation(grid, 5)
    labels = superpixels(obs.values, obs.known, pixels_per_superpixel=60, seed=1, connected=True)
    assert labels.shape == grid and labels.dtype.kind == "i"  # one label per grid point: covered exactly once
    k = labels.max() + 1
    assert np.array_equal(np.unique(labels), np.arange(k)) and k > 5
    for lab in range(k):
        assert ndimage.label(labels == lab)[1] == 1
    assert np.bincount(labels.ravel()).min() >= 15  # fragments below min_size_fraction * 60 were merged


def test_segmentation_channels_are_the_official_bands():
    assert segmentation_channels(31).tolist() == [10, 20, 30]  # dataloader.py: bands 10, 20, 30
    assert segmentation_channels(8).tolist() == [2, 5, 7]
    assert segmentation_channels(3).tolist() == [0, 1, 2] and segmentation_channels(2).tolist() == [0, 1]


def same_partition(a, b):
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist()))
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


@pytest.mark.parametrize("seed", [0, 3])
def test_superpixels_are_the_official_kmeans(seed):
    """The official completion loader's segmentation, written out here: 3-NN regression fills bands 10, 20, 30, then
    KMeans(int(H W / pixel_set), init='k-means++') on [5 i / H, 5 j / W, bands]; with the same random_state the
    partition is the same (default: no connectivity step)."""
    H, W, C, pixel_set = 24, 20, 31, 40
    rng = np.random.default_rng(seed)
    truth = np.cumsum(rng.random((H, W, C)), 0).astype(np.float32) / H
    known = rng.random((H, W, C)) < 0.3
    ob = np.where(known, truth, 0).astype(np.float32)
    feats = np.zeros((H, W, 5))
    for j, band in enumerate([10, 20, 30]):
        miss = ~known[..., band]
        filled = ob[..., band].astype(np.float64)
        knr = KNeighborsRegressor(n_neighbors=3).fit(np.argwhere(~miss), filled[~miss])
        filled[miss] = knr.predict(np.argwhere(miss))
        feats[..., 2 + j] = filled
    feats[..., 0] = 5.0 * np.arange(H)[:, None] / H
    feats[..., 1] = 5.0 * np.arange(W)[None, :] / W
    official = KMeans(n_clusters=int(H * W / pixel_set), init="k-means++", random_state=seed).fit(feats.reshape(-1, 5))
    ours = superpixels(ob, known, pixels_per_superpixel=pixel_set, seed=seed)
    assert ours.max() + 1 == int(H * W / pixel_set)
    assert same_partition(ours, official.labels_.reshape(H, W))
    assert not same_partition(ours, superpixels(ob, known, pixels_per_superpixel=pixel_set, seed=seed + 1))


def test_superpixels_follow_regions_without_merging_clusters():
    """Four constant quadrants, four clusters: exactly the quadrants (the official off-by-one would give three)."""
    values = np.zeros((20, 20, 3), dtype=np.float32)
    values[:10, 10:] = (1, 0, 0)
    values[10:, :10] = (0, 1, 0)
    values[10:, 10:] = (0, 0, 1)
    labels = superpixels(values, np.ones_like(values, dtype=bool), pixels_per_superpixel=100, alpha=0.1)
    assert labels.max() == 3
    for r, c in ((0, 0), (0, 10), (10, 0), (10, 10)):
        assert np.all(labels[r : r + 10, c : c + 10] == labels[r, c])


def test_superpixels_use_only_observed_entries():
    obs = random_observation((30, 30), 3, rate=0.4, seed=2)
    scrambled = np.where(obs.known, obs.values, np.random.default_rng(9).random(obs.values.shape)).astype(np.float32)
    a = superpixels(obs.values, obs.known, pixels_per_superpixel=50)
    b = superpixels(scrambled, obs.known, pixels_per_superpixel=50)
    assert np.array_equal(a, b)


def test_connected_labels_splits_disconnected_clusters():
    labels = np.array([[0, 0, 1, 0], [1, 1, 1, 0], [0, 0, 1, 1]])
    out = connected_labels(labels)
    assert out.max() + 1 == 4  # cluster 0 has three components, cluster 1 one
    for lab in range(4):
        assert ndimage.label(out == lab)[1] == 1


def test_overlap_members_own_label_first_then_ring():
    obs = random_observation((20, 18), 3)
    labels = superpixels(obs.values, obs.known, pixels_per_superpixel=30)
    ptr, members = overlap_members(labels, 2)
    flat = labels.reshape(-1)
    assert np.array_equal(members[ptr[:-1]], flat)  # own superpixel first
    for k in range(labels.max() + 1):
        covered = np.array([k in members[ptr[i] : ptr[i + 1]] for i in range(flat.size)])
        assert np.array_equal(covered, extended_superpixel(labels, k, 2).reshape(-1))
    ptr0, members0 = overlap_members(labels, 0)
    assert np.array_equal(ptr0, np.arange(flat.size + 1)) and np.array_equal(members0, flat)
