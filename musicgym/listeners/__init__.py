"""Simulated listeners (RecSim's user model): what a listener is and how it responds to a track.

Every listener implements the `Listener` protocol (`musicgym.listeners.base`); an env takes a listener
object (``gym.make(..., listener=MyListener())``) or the shortcut name of a built-in one.
"""

from musicgym.listeners.base import Listener
from musicgym.listeners.cluster import ClusterListener, PlaylistReward, cluster_world, expected_listening
from musicgym.listeners.person import PersonListener
from musicgym.listeners.preference import PreferenceUser
from musicgym.listeners.replay import ReplayListener
from musicgym.listeners.session import SessionListener, SessionParams
from musicgym.listeners.taste import TasteUser

__all__ = [
    "ClusterListener",
    "Listener",
    "PersonListener",
    "PlaylistReward",
    "PreferenceUser",
    "ReplayListener",
    "SessionListener",
    "SessionParams",
    "TasteUser",
    "cluster_world",
    "expected_listening",
]
