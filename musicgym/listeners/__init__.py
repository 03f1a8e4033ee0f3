"""Simulated listeners: what a listener is (state and sampler) and how it responds to a track."""

from musicgym.listeners.cluster import ClusterListener
from musicgym.listeners.preference import PreferenceUser
from musicgym.listeners.replay import ReplayListener
from musicgym.listeners.taste import TasteUser

__all__ = ["ClusterListener", "PreferenceUser", "ReplayListener", "TasteUser"]
