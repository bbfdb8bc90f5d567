"""Power-map distributions: statistics, conservation, file maps and config errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chiptherm.errors import InputError
from chiptherm.operator.sampling import GaussianField, MapFiles, Mixture, RandomBlocks

SIZE = (2e-3, 1e-3)


def test_gaussian_field_has_the_requested_mean_amplitude_and_correlation():
    dist = GaussianField(length_scale=0.2, amplitude=1500.0, mean=300.0)
    maps = dist.sample(4000, SIZE, (16, 20), np.random.default_rng(0))
    assert maps.shape == (4000, 16, 20)
    assert maps.mean() == pytest.approx(300.0, abs=30.0)
    assert maps.std() == pytest.approx(1500.0, rel=0.05)
    # correlation between cells 4 apart along x (distance 0.2 of the side): exp(-1/2)
    a, b = maps[:, 8, 5] - 300.0, maps[:, 8, 9] - 300.0
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(np.exp(-0.5), abs=0.05)


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(1, 12),
    ny=st.integers(3, 40),
    nx=st.integers(3, 40),
    seed=st.integers(0, 10_000),
)
def test_random_blocks_inject_exactly_their_power(count, ny, nx, seed):
    dist = RandomBlocks(count=count, watts=[0.5e-3, 2e-3], size=(0.05, 0.5))
    rng = np.random.default_rng(seed)
    blocks = dist.rectangles(3, rng)
    rng = np.random.default_rng(seed)
    maps = dist.sample(3, SIZE, (ny, nx), rng)
    cell_area = SIZE[0] * SIZE[1] / (nx * ny)
    assert np.allclose(maps.sum(axis=(1, 2)) * cell_area, blocks[..., 4].sum(axis=1), rtol=1e-12)
    assert (maps >= 0).all()
    x0, y0, w, h = (blocks[..., i] for i in range(4))
    assert (x0 >= 0).all() and (x0 + w <= 1 + 1e-12).all() and (y0 + h <= 1 + 1e-12).all()


def test_map_files_are_resampled_conservatively(tmp_path):
    watts = np.random.default_rng(1).uniform(0, 1e-3, (7, 9))
    np.save(tmp_path / "a.npy", watts)
    dist = MapFiles(paths=["*.npy"], base_dir=str(tmp_path))
    maps = dist.sample(2, SIZE, (5, 4), np.random.default_rng(0))
    assert np.allclose(maps.sum(axis=(1, 2)) * SIZE[0] * SIZE[1] / 20, watts.sum())


def test_map_file_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no power-map files match"):
        MapFiles(paths=["*.npy"], base_dir=str(tmp_path)).files()
    np.save(tmp_path / "bad.npy", np.zeros(3))
    with pytest.raises(InputError, match=r"bad\.npy.*numeric array \(ny, nx\)"):
        MapFiles(paths=["bad.npy"], base_dir=str(tmp_path)).sample(
            1, SIZE, (2, 2), np.random.default_rng()
        )


def test_mixture_draws_from_every_part_with_its_weight():
    mix = Mixture(
        parts=[GaussianField(amplitude=0.0, mean=1.0), GaussianField(amplitude=0.0, mean=2.0)],
        weights=[3, 1],
    )
    maps = mix.sample(4000, SIZE, (2, 2), np.random.default_rng(3))
    share = (maps[:, 0, 0] == 1.0).mean()
    assert share == pytest.approx(0.75, abs=0.03)


def test_bad_distribution_settings_are_rejected():
    with pytest.raises(ValidationError, match="size must be"):
        RandomBlocks(size=(0.5, 0.2))
    with pytest.raises(ValidationError, match="one non-negative entry per part"):
        Mixture(parts=[GaussianField()], weights=[1, 2])
    with pytest.raises(ValidationError):
        GaussianField(length_scale=-1)
