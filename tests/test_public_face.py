"""Agents, the CLI, experiments and tools use only the envs' public face (`musicgym.envs.base` docstring).

An AST check over every module outside the env package (``musicgym/envs``, ``musicgym/listeners``): no
attribute named ``core`` is read, and no private attribute (``_name``) is read from anything but the
module's own objects (``self``, ``cls``, ``super()``). The hidden listener is thereby out of reach except
through ``info``'s oracle keys. Third-party private attributes that a module must use are listed in
ALLOWED with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_PACKAGE = ("musicgym/envs/", "musicgym/listeners/")
#: (module, attribute) -> why reading it is fine
ALLOWED: dict[tuple[str, str], str] = {
    ("agents/early_stopping.py", "_rank"): "a reference policy's own ranking, called by its trainer (agents package)",
    ("agents/finetune.py", "_update"): "the ah_dqn agent's own update step, called by its fine-tuner (agents package)",
    ("agents/torch_agent.py", "_load_state"): "the class's own loader on the instance it just built",
    ("agents/slot_policy.py", "_version"): "torch's in-place version counter of a parameter (not an env)",
    ("agents/sb3_agents.py", "_total_timesteps"): "SB3's budget that its off-policy schedules run over (not an env)",
    ("experiments/hostile_inputs.py", "_run_and_publish"): "the audit stubs the CLI's own run step (not an env)",
}


def _modules() -> list[Path]:
    out = []
    for folder in ("musicgym", "agents", "experiments"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(ENV_PACKAGE):
                out.append(path)
    return out


def _own(node: ast.expr) -> bool:
    """Whether `node` is the module's own object: self, cls, or super()."""
    if isinstance(node, ast.Name) and node.id in ("self", "cls"):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def test_no_module_outside_the_env_package_reads_an_env_core_or_private_attribute():
    bad = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if not isinstance(node, ast.Attribute):
                continue
            name = node.attr
            private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            if (name == "core" or (private and not _own(node.value))) and (rel, name) not in ALLOWED:
                bad.append(f"{rel}:{node.lineno}: .{name}")
    assert not bad, "reads past the public face:\n" + "\n".join(bad)


def test_the_check_catches_a_core_read():
    code = "def f(env):\n    return env.unwrapped.core.listener, env._hidden\n"
    hits = [n.attr for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Attribute)
            and (n.attr == "core" or (n.attr.startswith("_") and not _own(n.value)))]
    assert sorted(hits) == ["_hidden", "core"]
