from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA

from musicgym import vae
from musicgym.vae import VAEConfig, catalog_latents, encoder_for, load_vae, save_vae, train_vae


def test_shipped_default_encoder_beats_pca(default_catalog, capsys):
    """Reconstruction error of the shipped VAE against PCA with 5 components on the same data."""
    x = default_catalog.features_11
    model = encoder_for(default_catalog)
    vae_mse = float(((model.reconstruct(x) - x) ** 2).mean())
    pca = PCA(n_components=5).fit(x)
    pca_mse = float(((pca.inverse_transform(pca.transform(x)) - x) ** 2).mean())
    with capsys.disabled():
        print(f"\n[VAE vs PCA-5 on default catalog] reconstruction MSE: VAE {vae_mse:.5f}, PCA {pca_mse:.5f}")
    assert vae_mse < pca_mse


def test_latents_scaled_to_unit_box(default_catalog):
    z = catalog_latents(default_catalog)
    assert z.shape == (len(default_catalog), 5) and z.dtype == np.float32
    assert z.min() == 0.0 and z.max() == 1.0


def test_training_is_deterministic_and_fast(small_catalog):
    cfg = VAEConfig(epochs=3)
    a = train_vae(small_catalog.features_11, cfg)
    b = train_vae(small_catalog.features_11, cfg)
    assert np.array_equal(a.latents(small_catalog.features_11), b.latents(small_catalog.features_11))


def test_cache_per_fingerprint(small_catalog, tmp_path):
    cfg = VAEConfig(epochs=2)
    vae._models.clear()
    first = encoder_for(small_catalog, cfg, cache=tmp_path)
    files = list(tmp_path.glob(f"vae-{small_catalog.fingerprint}-*.pt"))
    assert len(files) == 1
    vae._models.clear()
    second = encoder_for(small_catalog, cfg, cache=tmp_path)  # from disk, not retrained
    assert second is not first
    x = small_catalog.features_11
    assert np.array_equal(first.latents(x), second.latents(x))


def test_refuses_weights_of_another_catalog(small_catalog, tmp_path):
    model = train_vae(small_catalog.features_11, VAEConfig(epochs=1))
    path = tmp_path / "w.pt"
    save_vae(model, path, small_catalog.fingerprint)
    with pytest.raises(ValueError, match="not deadbeef"):
        load_vae(path, "deadbeef")


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 11\)"):
        train_vae(np.zeros((10, 4), np.float32))
    x = np.zeros((10, 11), np.float32)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_vae(x)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _weights(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_a_new_catalog_says_that_it_trains_its_encoder_and_how_long_it_takes(small_catalog, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.delenv("MUSICGYM_QUIET", raising=False)  # (set on machines that silence it)
    vae._models.clear()
    encoder_for(small_catalog, VAEConfig(epochs=2), cache=tmp_path)
    (line,) = capsys.readouterr().err.splitlines()  # stderr is not a terminal here: no bar
    assert re.fullmatch(rf"musicgym: training the VAE encoder of catalog '{re.escape(small_catalog.name)}' "
                        r"\(2,000 tracks, 2 epochs\): about \d+ s", line), line
    vae._models.clear()
    encoder_for(small_catalog, VAEConfig(epochs=2), cache=tmp_path)  # cached: nothing to say
    assert capsys.readouterr().err == ""


def test_the_progress_bar_shows_on_a_terminal_unless_quiet_and_leaves_the_weights_alone(small_catalog, monkeypatch):
    x, cfg = small_catalog.features_11[:512], VAEConfig(epochs=2)
    said = {}
    for case in ("terminal", "quiet terminal", "file"):
        stderr = io.StringIO() if case == "file" else _Terminal()
        monkeypatch.setattr(sys, "stderr", stderr)
        monkeypatch.setenv("MUSICGYM_QUIET", "1" if case == "quiet terminal" else "0")
        said[case] = (_weights(train_vae(x, cfg, name="catalog 'test'")), stderr.getvalue())
    text = said["terminal"][1]
    assert "VAE of catalog 'test'" in text and "/2 [" in text and "epoch/s" in text
    assert "about" in said["file"][1] and "epoch/s" not in said["file"][1]
    assert said["quiet terminal"][1] == ""
    for case in ("quiet terminal", "file"):
        assert said[case][0].keys() == said["terminal"][0].keys()
        assert all(np.array_equal(said[case][0][k], w) for k, w in said["terminal"][0].items())
