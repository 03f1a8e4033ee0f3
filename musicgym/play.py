"""``musicgym play``: a person listens to an agent's recommendations in the terminal.

Playlist-v0 (the PPO project's setting): the person picks a starting track, the agent proposes the
next one among the 4 nearest unplayed neighbours, and the person answers how much of it they heard
(0-100, or ``skip``) and whether they liked it (``y`` / ``n``): ``75 y``. The env computes the reward
from that answer (``listener="external"``). Preference-v0 (the AH-DQN project's online mode): the
person states preferences over the 21 attributes (``rock=1 sad=-0.5``), may edit them at any prompt
(``p rock=0``), and answers like / no like (optionally with a percentage); the reward is the env's
dot product with the stated preferences. ``q`` quits; Ctrl-C and end of input end the session too.

The proposal is the agent's best-rated slot; with probability ``explore`` (default 0.1) a uniformly
random unplayed slot is proposed instead, so that the logged propensities support off-policy
estimates and fine-tuning. Every answered proposal is appended to the JSON Lines log at once (see
`musicgym.interaction_log`).
"""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from musicgym.catalog import ATTRIBUTE_NAMES
from musicgym.interaction_log import LogWriter
from musicgym.listeners import PersonListener, PreferenceUser

PLAY_ENVS = ("MusicGym/Playlist-v0", "MusicGym/Preference-v0")
FEATURES_SHOWN = ("danceability", "energy", "valence", "acousticness", "tempo")


class Quit(Exception):
    """The person asked to stop."""


class UniformPolicy:
    """Rates every unplayed slot the same (``--agent random``)."""

    name = "random"

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray]:
        """Uniform probabilities over the unplayed slots."""
        mask = np.asarray(info["action_mask"], dtype=float)
        return "p", mask / mask.sum()


#: env -> the listener object `make_play_env` gave it (the person, or the stated-preference user)
_PLAY_LISTENERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_play_env(env_id: str, catalog: Any) -> gym.Env:
    """The env a person plays: Playlist-v0 with a `PersonListener`, or Preference-v0 with a `PreferenceUser`.

    The person states the `PreferenceUser`'s preferences; the listener object stays with this module
    for `PlaySession`.
    """
    env_id = env_id if "/" in env_id else f"MusicGym/{env_id}"
    if env_id not in PLAY_ENVS:
        raise ValueError(f"musicgym play supports {', '.join(PLAY_ENVS)}, not {env_id}")
    listener = PersonListener() if env_id.endswith("Playlist-v0") else PreferenceUser()
    env = gym.make(env_id, catalog=catalog, listener=listener)
    _PLAY_LISTENERS[env] = listener
    return env


@dataclass
class Answer:
    """A parsed reply to a proposal."""

    percentage_listened: float
    liked: bool


def parse_answer(text: str, needs_percentage: bool) -> Answer:
    """``"75 y"``, ``"skip"``, ``"y"`` / ``"n"`` (when no percentage is needed); ValueError saying what is expected."""
    words = text.strip().lower().split()
    if words == ["skip"] or words == ["s"]:
        return Answer(0.0, False)
    pct, liked = None, None
    for w in words:
        if w in ("y", "yes", "like", "liked"):
            liked = True
        elif w in ("n", "no"):
            liked = False
        else:
            try:
                value = float(w.rstrip("%"))
            except ValueError:
                raise ValueError(f"cannot read {w!r}") from None
            if not 0 <= value <= 100:
                raise ValueError(f"the percentage must be within 0-100, got {w}")
            pct = value / 100.0
    if liked is None or (needs_percentage and pct is None):
        raise ValueError("answer with a percentage listened and y/n, e.g. '75 y', or 'skip'" if needs_percentage
                         else "answer y or n (optionally with a percentage listened, e.g. '60 y'), or 'skip'")
    return Answer(1.0 if pct is None and liked else (pct or 0.0), liked)


def parse_preferences(text: str, prefs: np.ndarray) -> np.ndarray:
    """Apply ``attr=value`` edits (value in [-1, 1]) to a copy of `prefs`; ValueError naming a bad one."""
    out = prefs.copy()
    for item in text.split():
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"write preferences as attribute=value, got {item!r}")
        if name not in ATTRIBUTE_NAMES:
            raise ValueError(f"unknown attribute {name!r}; attributes: {', '.join(ATTRIBUTE_NAMES)}")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number") from None
        if not -1 <= v <= 1:
            raise ValueError(f"{name}: preferences are within [-1, 1], got {v}")
        out[ATTRIBUTE_NAMES.index(name)] = v
    return out


class PlaySession:
    """One interactive session; `ask` reads a line (raising EOFError at the end), `say` prints."""

    def __init__(self, env: gym.Env, agent: Any, agent_label: str, log: LogWriter,
                 ask: Callable[[str], str] = input, say: Callable[[str], None] = print,
                 explore: float = 0.1, seed: int | None = None) -> None:
        if not 0 <= explore <= 1:
            raise ValueError(f"explore must be in [0, 1], got {explore}")
        self.env, self.agent, self.agent_label, self.log = env, agent, agent_label, log
        self.ask, self.say, self.explore = ask, say, explore
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        if env not in _PLAY_LISTENERS:
            raise ValueError("PlaySession needs an env made by musicgym.play.make_play_env")
        self.listener = _PLAY_LISTENERS[env]
        self.catalog = env.unwrapped.catalog
        self.env_id = env.spec.id
        self.preference_env = self.env_id.endswith("Preference-v0")
        self.session = uuid.uuid4().hex[:12]
        self.logged = 0
        self.proposed: int | None = None  # the catalog row proposed now (read by scripted tests)

    def _prefs(self) -> np.ndarray:
        """The stated preferences now (Preference-v0)."""
        return self.listener.observe(np.zeros(1, dtype=np.int64))[0].astype(float)

    # ------------------------------------------------------------------ prompts
    def _prompt(self, text: str, parse: Callable[[str], Any]) -> Any:
        """Ask until `parse` accepts the reply; ``q`` quits."""
        while True:
            reply = self.ask(text)
            if reply.strip().lower() in ("q", "quit", "exit"):
                raise Quit
            try:
                return parse(reply)
            except ValueError as e:
                self.say(f"  ? {e}")

    def describe(self, row: int) -> str:
        """Name, artist, genre, year and a few audio features of a catalog row."""
        t = self.catalog.tracks
        year = t["year"].iat[row]
        parts = [f"{t['name'].iat[row]} - {t['artist'].iat[row]}", f"[{t['genre'].iat[row] or '?'}"
                 + ("" if np.isnan(year) else f", {year:.0f}") + "]"]
        feats = [f"{f} {t[f].iat[row]:.2f}" if f != "tempo" else f"tempo {t[f].iat[row]:.0f}"
                 for f in FEATURES_SHOWN if f in t.columns]
        return " ".join(parts) + ("  (" + ", ".join(feats) + ")" if feats else "")

    def pick_start(self) -> int:
        """Search by name or artist; empty input picks a random track."""
        t = self.catalog.tracks
        text = (t["name"].astype(str) + " - " + t["artist"].astype(str)).str.lower()

        def parse(reply: str) -> Any:
            q = reply.strip().lower()
            if not q:
                return int(self.rng.integers(len(t)))
            hits = np.flatnonzero(text.str.contains(q, regex=False).to_numpy())
            if not len(hits):
                raise ValueError(f"no track matches {reply.strip()!r}; try part of a name or an artist")
            return hits[:10]

        while True:
            found = self._prompt("Start from which track? (part of a name or artist; empty = random; q = quit) ",
                                 parse)
            if isinstance(found, int):
                return found
            for i, row in enumerate(found, 1):
                self.say(f"  {i:2d}. {self.describe(int(row))}")
            choice = self._prompt(f"Which one (1-{len(found)}, 0 = search again)? ",
                                  lambda r, n=len(found): _int_in(r, 0, n))
            if choice:
                return int(found[choice - 1])

    def ask_preferences(self) -> np.ndarray:
        """Stated preferences, all 0 until edited."""
        self.say("Your preferences, one weight in [-1, 1] per attribute: " + ", ".join(ATTRIBUTE_NAMES))
        prefs = np.zeros(len(ATTRIBUTE_NAMES))
        while True:
            edits = self._prompt("Set some (e.g. 'rock=1 sad=-0.5'; empty = done): ",
                                 lambda r, now=prefs: r if not r.strip() else parse_preferences(_edits(r), now))
            if isinstance(edits, str):
                return prefs
            prefs = edits
            self.say("  " + _prefs_text(prefs))

    # ------------------------------------------------------------------ the session
    def run(self) -> int:
        """Play until the episode ends or the person quits; return the number of logged interactions."""
        try:
            options: dict[str, Any] = {}
            if self.preference_env:
                options["preferences"] = self.ask_preferences()
            options["start_track"] = self.pick_start()
            obs, info = self.env.reset(seed=self.seed, options=options)
            self.say(f"Playing from: {self.describe(int(info['history'][0]))}")
            done, step = False, 0
            while not done:
                obs, info, done = self._one_step(obs, info, step)
                step += 1
            self.say("The playlist is complete.")
        except (Quit, EOFError, KeyboardInterrupt):
            self.say("")
        self.say(f"Session {self.session}: {self.logged} answers logged to {self.log.path}")
        return self.logged

    def _choose(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[int, float, str | None, np.ndarray | None]:
        mask = np.asarray(info["action_mask"], dtype=bool)
        rated = self.agent.action_scores(obs, info) if hasattr(self.agent, "action_scores") else None
        if rated is None:
            greedy = int(np.asarray(self.agent.predict(obs, info=info, deterministic=True)[0]).item())
            kind, scores = None, None
        else:
            kind, scores = rated
            scores = np.asarray(scores, dtype=float)
            greedy = int(np.where(mask, scores, -np.inf).argmax())
        valid = np.flatnonzero(mask)
        if scores is None:
            best = np.array([greedy])
        else:  # ties are broken at random, so a policy that rates every slot alike proposes each alike
            rated_valid = np.where(mask, scores, -np.inf)
            best = np.flatnonzero(rated_valid == rated_valid.max()) if valid.size else np.array([greedy])
        if self.rng.random() < self.explore:
            action = int(self.rng.choice(valid))
        else:
            action = int(self.rng.choice(best))
        # the probability of proposing `action`: explore uniformly, else uniformly among the best-rated
        propensity = (1 - self.explore) * (action in best) / len(best) + self.explore / len(valid)
        return action, float(propensity), kind, scores

    def _one_step(self, obs: np.ndarray, info: dict[str, Any], step: int):
        action, propensity, kind, scores = self._choose(obs, info)
        cand = np.asarray(info["candidates"])
        self.proposed = int(cand[action])
        self.say(f"\nNext ({step + 1}): {self.describe(self.proposed)}")
        if scores is not None:
            for slot, row in enumerate(cand):
                if row >= 0:
                    mark = "->" if slot == action else "  "
                    self.say(f"   {mark} {kind}={scores[slot]:7.3f}  {self.describe(int(row))}")
        if self.preference_env:
            prompt = "Like it? (y / n, optionally with % listened; 'p attr=value' edits preferences; q = quit) "
        else:
            prompt = "How much did you listen, and did you like it? (e.g. '75 y', 'skip'; q = quit) "
        while True:
            reply = self._prompt(prompt, lambda r: r)
            if self.preference_env and reply.strip().startswith("p "):
                try:
                    prefs = parse_preferences(reply.strip()[2:], self._prefs())
                except ValueError as e:
                    self.say(f"  ? {e}")
                    continue
                self.listener.set_preferences(np.zeros(1, dtype=np.int64), prefs)
                obs = np.array(obs, dtype=np.float32)
                obs[: len(prefs)] = prefs  # the observation starts with the preferences: the agent sees the edit
                self.say("  " + _prefs_text(prefs))
                continue
            try:
                answer = parse_answer(reply, needs_percentage=not self.preference_env)
                break
            except ValueError as e:
                self.say(f"  ? {e}")
        if not self.preference_env:
            self.listener.answer(answer.percentage_listened, answer.liked)
        history = np.asarray(info["history"]).tolist()
        next_obs, reward, terminated, truncated, next_info = self.env.step(action)
        feedback = {"percentage_listened": answer.percentage_listened, "liked": answer.liked}
        if self.preference_env:
            feedback["preferences"] = self._prefs().round(4).tolist()
        self.log.append({
            "session": self.session, "step": step, "time": dt.datetime.now(dt.timezone.utc).isoformat(),
            "env_id": self.env_id, "catalog": self.catalog.fingerprint, "agent": self.agent_label,
            "obs": np.asarray(obs, dtype=float).round(6).tolist(), "history": history,
            "candidates": cand.tolist(),
            "scores": None if scores is None else np.nan_to_num(scores, neginf=-1e30).tolist(),
            "score_kind": kind, "propensity": propensity, "action": action, "track": self.proposed,
            "feedback": feedback, "reward": float(reward), "done": bool(terminated or truncated),
        })  # fmt: skip
        self.logged += 1
        self.say(f"  reward {reward:.3f}")
        return next_obs, next_info, terminated or truncated


def _edits(reply: str) -> str:
    """Preference edits typed with or without the ``p`` that other prompts need (``p rock=1`` or ``rock=1``)."""
    text = reply.strip()
    return text[2:] if text.lower().startswith("p ") else text


def _int_in(reply: str, lo: int, hi: int) -> int:
    try:
        value = int(reply.strip())
    except ValueError:
        raise ValueError(f"type a number from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise ValueError(f"type a number from {lo} to {hi}")
    return value


def _prefs_text(prefs: np.ndarray) -> str:
    shown = [f"{n}={v:+.2f}" for n, v in zip(ATTRIBUTE_NAMES, prefs, strict=True) if v != 0]
    return "preferences: " + (" ".join(shown) if shown else "(all 0)")
