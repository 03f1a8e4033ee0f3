"""``posterior_planner``: posterior_greedy's posterior, with the exhaustive playlist search instead of greed.

A reference policy for Playlist-v0 and PlaylistPOMDP-v0. It keeps `posterior_greedy`'s posterior
over the episode's listener (per-cluster listening means, updated with each percentage listened) and
knows the same documented model. At each step it does not play the candidate of highest posterior
expected reward: it plays the first pick of the best playlist under the posterior means, found by
the planner's exhaustive search through the candidate tree (`musicgym.envs.planner.plan_slot`), and
plans again after the next answer (certainty equivalence: it does not plan to learn).

On the hard track this is a much higher bar than greed: on the full preset's evaluation episodes it
scores about three times `posterior_greedy` (README, "The RL goals"). What separates it from the
exact planner is only what it does not know about the drawn listener.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from musicgym.agents.posterior_greedy import PLAYLIST_IDS, PosteriorGreedyPolicy

from musicgym.envs.core import neighbour_table
from musicgym.envs.planner import plan_slot
from musicgym.envs.playlist import TABLE_K


class PosteriorPlannerPolicy(PosteriorGreedyPolicy):
    """Plans the rest of the playlist under posterior_greedy's posterior (module docstring)."""

    name = "posterior_planner"
    SUPPORTED_ENVS: ClassVar[tuple[str, ...]] = PLAYLIST_IDS

    def _take_model(self, env: Any, args: dict[str, Any]) -> None:
        """posterior_greedy's model, and the candidate rule: the neighbour table and the playlist's length."""
        super()._take_model(env, args)
        self.table = neighbour_table(env.index, TABLE_K)
        self.all_tracks = np.arange(len(env.item_features))
        self.length_limit = int(args["playlist_length"])

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """The first pick of the best playlist under the posterior means (reads ``info``)."""
        info = kw.get("info")
        if info is None or "candidates" not in info or "history" not in info:
            raise ValueError(f"agent {self.name!r} reads info['history'], info['candidates'] and info['rewards']: "
                             "pass info=...")
        self._take_info(info)
        value = self.expected_values(self.all_tracks)
        return np.asarray(plan_slot(self.table, value, info["history"], info["candidates"], self.length_limit)), state
