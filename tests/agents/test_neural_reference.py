"""SASRec and the title-conditioned set transformer: planted patterns, WARP loss, top-p sampling, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from musicgym.agents.set_transformer import warp_loss

from musicgym import agents
from musicgym.catalog import Playlists

CATALOG = {"catalog": "synthetic-2000"}


def test_sasrec_learns_what_comes_next():
    """Track 11 always follows track 7 (and 7 is preceded by random tracks): 11 must rank first after 7."""
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(300):
        a, b = rng.choice(np.arange(20, 2000), (2, 4), replace=False)
        seqs.append(np.array([*a, 7, 11, *b]))
    sas = agents.make("sasrec", "MusicGym/Taste-v0", env_kwargs=CATALOG, max_epochs=30, patience=30, val_frac=0.0,
                      lr=5e-3)
    sas.fit(Playlists(seqs, ordered=True))
    ranked = sas.rank([np.array([30, 40, 7]), np.array([7])], 3)
    assert (ranked[:, 0] == 11).all()
    assert 7 not in ranked[1]


def _titled_playlists():
    """'rock ...' playlists always hold track 5, 'jazz ...' ones track 6; 7 and 11 always appear together."""
    rng = np.random.default_rng(1)
    pls, titles = [], []
    for i in range(300):
        noise = rng.choice(np.arange(20, 2000), 4, replace=False)
        genre = "rock" if i % 2 else "jazz"
        pls.append(np.array([5 if genre == "rock" else 6, 7, 11, *noise]))
        titles.append(f"{genre} mix {i % 7}")
    return Playlists(pls, titles)


@pytest.fixture(scope="module")
def set_transformer():
    st = agents.make("set_transformer", "MusicGym/Taste-v0", env_kwargs=CATALOG, max_epochs=25, patience=25,
                     val_frac=0.0, lr=3e-3)
    return st.fit(_titled_playlists())


def test_set_transformer_completes_a_planted_pair(set_transformer):
    assert set_transformer.rank([np.array([7, 300])], 1, ["rock mix 3"])[0, 0] == 11


def test_set_transformer_reads_the_title(set_transformer):
    empty = [np.array([], dtype=int)] * 2
    rock, jazz = set_transformer.scores(np.full((2, 1), -1), ["rock mix", "jazz mix"])
    assert rock[5] > rock[6] and jazz[6] > jazz[5]
    ranked = set_transformer.rank(empty, 4, ["rock mix", "jazz mix"])
    assert 5 in ranked[0] and 6 not in ranked[0][:1] and 6 in ranked[1]


def test_top_p_sampling(set_transformer):
    hist = np.array([7])
    a = set_transformer.sample(hist, 5, "rock mix", top_p=0.9, rng=np.random.default_rng(3))
    b = set_transformer.sample(hist, 5, "rock mix", top_p=0.9, rng=np.random.default_rng(3))
    assert np.array_equal(a, b) and len(set(a.tolist())) == 5 and 7 not in a
    # a tiny nucleus keeps only the best track: sampling is then greedy, one track at a time
    greedy = set_transformer.sample(hist, 1, "rock mix", top_p=1e-9)
    assert greedy[0] == set_transformer.rank([hist], 1, ["rock mix"])[0, 0]
    with pytest.raises(ValueError, match="top_p"):
        set_transformer.sample(hist, 1, top_p=0.0)


def test_warp_loss_by_hand():
    logits = torch.tensor([[0.0, 2.0, 1.5, -1.0, 0.8]])  # 5 tracks; positives 1 and 4
    pos = torch.tensor([[1, 4]])
    weight = torch.tensor([[0.5, 1.0]])
    negs = torch.tensor([[[2, 3], [0, 2]]])  # M = 2 negatives per positive
    in_pl = torch.tensor([[False, True, False, False, True]])
    loss = warp_loss(logits, pos, weight, negs, in_pl, margin=1.0)
    # positive 1 (s=2): hinges 1-2+1.5=0.5, 1-2-1=0 -> 1 violation, rank floor(1*4/2)=2, L=1+1/2, mean hinge 0.5
    # positive 4 (s=0.8): hinges 1-0.8+0=0.2, 1-0.8+1.5=1.7 -> 2 violations, rank 4, L=25/12, mean 0.95
    expected = (0.5 * 1.5 * 0.5 + 1.0 * (25 / 12) * 0.95) / 1.5
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # a negative that is in the playlist is never counted
    in_pl[0, 2] = True
    loss2 = warp_loss(logits, pos, weight, negs, in_pl, margin=1.0)
    # positive 1: no violation left; positive 4: one violation (0.2), rank floor(1*4/2)=2, L=1.5
    assert loss2.item() == pytest.approx((1.0 * 1.5 * 0.2) / 1.5, rel=1e-5)


def test_fit_is_deterministic_and_errors_are_clear():
    kw = dict(env_kwargs=CATALOG, max_epochs=2)
    a = agents.make("sasrec", "MusicGym/Taste-v0", **kw).learn()
    b = agents.make("sasrec", "MusicGym/Taste-v0", **kw).learn()
    h = [np.array([1, 2, 3])]
    assert np.array_equal(a.rank(h, 10), b.rank(h, 10))
    with pytest.raises(ValueError, match="divisible by heads"):
        agents.make("sasrec", "MusicGym/Taste-v0", env_kwargs=CATALOG, dim=10, heads=3).learn()
    with pytest.raises(ValueError, match="max_epochs must be a positive integer"):
        agents.make("sasrec", "MusicGym/Taste-v0", env_kwargs=CATALOG, max_epochs=0).learn()
    with pytest.raises(ValueError, match="patience must be a positive integer"):
        agents.make("set_transformer", "MusicGym/Taste-v0", env_kwargs=CATALOG, patience=0).learn()
    with pytest.raises(ValueError, match="hide_min"):
        agents.make("set_transformer", "MusicGym/Taste-v0", env_kwargs=CATALOG, hide_min=0.6, hide_max=0.5).learn()
    with pytest.raises(ValueError, match="needs playlists"):
        agents.make("set_transformer", "MusicGym/Taste-v0", env_kwargs=CATALOG).fit(Playlists([]))
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        agents.make("sasrec", "MusicGym/Taste-v0", env_kwargs=CATALOG, layer=3)
