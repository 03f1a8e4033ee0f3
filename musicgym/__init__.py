"""MusicGym: Gymnasium environments for reinforcement-learning music recommendation.

``import musicgym`` registers every environment under the ``MusicGym/`` namespace.
"""

from __future__ import annotations

from musicgym.catalog import Catalog, CatalogError, load_catalog
from musicgym.envs.threads import set_num_threads
from musicgym.evaluation import EvalResult, evaluate, references
from musicgym.index import CandidateIndex
from musicgym.policies import OraclePolicy, PlannerPolicy, RandomPolicy
from musicgym.registration import register_musicgym_envs

__all__ = [
    "Catalog",
    "CatalogError",
    "CandidateIndex",
    "EvalResult",
    "OraclePolicy",
    "PlannerPolicy",
    "RandomPolicy",
    "evaluate",
    "load_catalog",
    "references",
    "register_musicgym_envs",
    "set_num_threads",
]
__version__ = "0.1.0"

register_musicgym_envs()
