"""Agent files and checkpoints that hold data only: loading one never runs code from it.

Pickles run code when they are loaded, so a shared agent file must not be one. Every MusicGym agent
file (``agent.save(path)``, a checkpoint, a sweep's ``_fitted/`` cache) is a zip archive whose
MusicGym part is three members:

* ``musicgym/agent.json``: ``{"format": "musicgym-agent", "version": 1, "agent": name, "state": tree}``,
  plain JSON read with `json.loads`;
* ``musicgym/arrays.npz``: the tree's numpy arrays, read with ``np.load(allow_pickle=False)`` (an object
  array, which would need a pickle, is refused);
* ``musicgym/tensors.pt``: the tree's torch tensors, read with ``torch.load(weights_only=True)``: torch's
  restricted unpickler, which builds tensors and plain containers only and refuses anything else. They
  are read onto the CPU (``map_location="cpu"``) whatever device wrote them; ``load_state_dict`` then
  copies weights to the device of the module they load into, and an optimiser's state to its
  parameters' (its step counts stay on the CPU, where torch keeps them): a file saved on a GPU loads
  on a machine without one, and the other way round.

The tree is made of dicts, lists, tuples, str, int, float, bool, None, numpy arrays and scalars and torch
tensors (`encode` / `decode`); a JSON node ``{"__mg_array__": key}`` stands for an array of the npz,
``{"__mg_tensor__": key}`` for a tensor, ``{"__mg_tuple__": [...]}`` for a tuple and
``{"__mg_dict__": [[key, value], ...]}`` for a dict whose keys are not all strings (an optimiser's state).

An SB3 agent's file is SB3's own zip archive with these members added (`musicgym.agents.sb3_agents`
says what is read from SB3's part). Files are written to a temporary name beside the target and
renamed over it (atomic on POSIX): a reader sees the old file or the new one, never half of one.

Files written by MusicGym before this format (``torch.save`` pickles of the torch agents, ``pickle``
files of the reference policies) are refused with `AgentFileError` saying how to re-save them; so is
anything else that is not such an archive, with the file's name and what is wrong with it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "musicgym-agent"
VERSION = 1
JSON_MEMBER = "musicgym/agent.json"
ARRAYS_MEMBER = "musicgym/arrays.npz"
TENSORS_MEMBER = "musicgym/tensors.pt"

RESAVE_HINT = (
    "MusicGym no longer loads pickles, which can run code when they are loaded; retrain the agent, or load it "
    "with the MusicGym version that saved it and save it again with this one (agents.load(path).save(path))"
)


class AgentFileError(ValueError):
    """An agent file or checkpoint that cannot be loaded: the message names the file and what is wrong."""


# ---------------------------------------------------------------------------------------------- the tree
def encode(tree: Any) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """(JSON-safe tree, arrays, tensors) of `tree` (see module docstring)."""
    import torch

    arrays: dict[str, np.ndarray] = {}
    tensors: dict[str, torch.Tensor] = {}

    def enc(x: Any, where: str) -> Any:
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, (int, float)):
            return x
        if isinstance(x, np.generic):
            return enc(x.item(), where)
        if isinstance(x, np.ndarray):
            if x.dtype.hasobject:
                raise TypeError(f"cannot store {where}: an object array (it would need a pickle)")
            key = f"a{len(arrays)}"
            arrays[key] = x
            return {"__mg_array__": key}
        if isinstance(x, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = x.detach()
            return {"__mg_tensor__": key}
        if isinstance(x, tuple):
            return {"__mg_tuple__": [enc(v, f"{where}[{i}]") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [enc(v, f"{where}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__mg_") for k in x):
                return {k: enc(v, f"{where}.{k}") for k, v in x.items()}
            return {"__mg_dict__": [[enc(k, where), enc(v, f"{where}[{k!r}]")] for k, v in x.items()]}
        raise TypeError(f"cannot store {where}: a {type(x).__name__} (only data: numbers, str, arrays, tensors, "
                        f"lists, tuples, dicts)")

    return enc(tree, "state"), arrays, tensors


def decode(node: Any, arrays: dict[str, np.ndarray], tensors: dict[str, Any]) -> Any:
    """Invert `encode` (a KeyError or ValueError where the tree names a missing array or a bad node)."""
    if isinstance(node, list):
        return [decode(v, arrays, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "__mg_array__":
            return arrays[value]
        if key == "__mg_tensor__":
            return tensors[value]
        if key == "__mg_tuple__":
            return tuple(decode(v, arrays, tensors) for v in value)
        if key == "__mg_dict__":
            return {_hashable(decode(k, arrays, tensors)): decode(v, arrays, tensors) for k, v in value}
    if any(k.startswith("__mg_") for k in node):
        raise ValueError(f"unknown node {sorted(node)}")
    return {k: decode(v, arrays, tensors) for k, v in node.items()}


def _hashable(key: Any) -> Any:
    if isinstance(key, (list, dict)):
        raise ValueError(f"a dict key cannot be a {type(key).__name__}")
    return key


# ---------------------------------------------------------------------------------------------- writing
def check_save_path(path: str | os.PathLike) -> Path:
    """`path` as a Path, with a clear error if it cannot be an agent file (empty, a directory)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"an agent path must be a str or os.PathLike, got {path!r} ({type(path).__name__})")
    if str(os.fspath(path)) == "":
        raise ValueError("cannot save an agent to an empty path ('')")
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"cannot save an agent to {p}: it is a directory")
    return p


def _os_error(path: Path, e: OSError) -> Exception:
    """PermissionError / FileNotFoundError as they are (with the path), any other OSError as a ValueError."""
    why = e.strerror or str(e)
    if isinstance(e, PermissionError):
        return PermissionError(e.errno, f"cannot write {path}: {why}", str(e.filename or path))
    return ValueError(f"cannot write {path}: {why} ({type(e).__name__})")


def write_atomic(path: str | os.PathLike, write: Any) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file over `path` (see module docstring)."""
    p = check_save_path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write {p}: {parent} is a file, not a directory")
            break
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, p)
    except BaseException as e:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _os_error(p, e) from e
        raise
    return p


def write_json_atomic(path: str | os.PathLike, doc: Any) -> None:
    """`doc` as JSON at `path`, atomically."""
    write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1)))


def members(agent: str, tree: Any) -> dict[str, bytes]:
    """The MusicGym members of an agent file holding `tree` (module docstring)."""
    import torch

    doc, arrays, tensors = encode(tree)
    out = {JSON_MEMBER: json.dumps({"format": FORMAT, "version": VERSION, "agent": agent, "state": doc}).encode()}
    if arrays:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        out[ARRAYS_MEMBER] = buf.getvalue()
    if tensors:
        buf = io.BytesIO()
        torch.save(tensors, buf)
        out[TENSORS_MEMBER] = buf.getvalue()
    return out


def write_agent_file(path: str | os.PathLike, agent: str, tree: Any, base: bytes | None = None) -> Path:
    """Write `tree` as agent `agent`'s file at `path`, atomically; `base`: a zip archive to add the members to."""
    def write(tmp: Path) -> None:
        data = members(agent, tree)
        if base is not None:
            tmp.write_bytes(base)
        with zipfile.ZipFile(tmp, "a" if base is not None else "w", compression=zipfile.ZIP_STORED) as z:
            for name, blob in data.items():
                z.writestr(name, blob)

    return write_atomic(path, write)


# ---------------------------------------------------------------------------------------------- reading
def label(path: Path, saved_by: str | None = None) -> str:
    """`path`, and the agent that wrote it when its sidecar says so (for error messages)."""
    return f"{path}" + (f" (saved by agent {saved_by!r})" if saved_by else "")


def open_archive(path: str | os.PathLike, saved_by: str | None = None) -> zipfile.ZipFile:
    """The zip archive at `path`, or a clear error: FileNotFoundError, or `AgentFileError` saying what it is."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no agent file at {p}")
    if p.is_dir():
        raise AgentFileError(f"{label(p, saved_by)} is a directory, not an agent file")
    with p.open("rb") as fh:
        head = fh.read(4)
    if not head:
        raise AgentFileError(f"{label(p, saved_by)} is empty: not an agent file (an interrupted copy?)")
    if head[:1] == b"\x80":
        raise AgentFileError(f"{label(p, saved_by)} is a pickle, written by an earlier MusicGym or by something "
                             f"else; it is not loaded. {RESAVE_HINT}")
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise AgentFileError(f"{label(p, saved_by)} is not an agent file: not a complete zip archive "
                             f"(truncated, or another kind of file): {e}") from e


def is_old_torch_pickle(archive: zipfile.ZipFile) -> bool:
    """Whether the archive is a ``torch.save`` file (a pickle inside a zip), as earlier MusicGym torch agents wrote."""
    return any(n.endswith("/data.pkl") or n == "data.pkl" for n in archive.namelist())


def read_member(archive: zipfile.ZipFile, name: str, path: Path, saved_by: str | None = None) -> bytes:
    """The bytes of member `name`, with the file named in any error (a missing member or a bad checksum)."""
    try:
        return archive.read(name)
    except KeyError as e:
        raise AgentFileError(f"{label(path, saved_by)} has no {name!r}: not a complete agent file") from e
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError) as e:
        raise AgentFileError(f"{label(path, saved_by)}: member {name!r} is damaged ({e})") from e


def load_tensors(blob: bytes, where: str, device: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)`` of `blob`; anything but tensors and plain containers is refused."""
    import torch

    try:
        return torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, KeyError, IndexError, zipfile.BadZipFile, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AgentFileError(f"{where} holds something other than tensors, or is damaged; it is not loaded "
                             f"(torch.load weights_only=True: {first})") from e


def load_arrays(blob: bytes, where: str) -> dict[str, np.ndarray]:
    """``np.load(allow_pickle=False)`` of an npz `blob` into a dict."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise AgentFileError(f"{where} holds something other than plain arrays (e.g. pickled objects), or is "
                             f"damaged; it is not loaded ({e})") from e


def read_agent_file(
    path: str | os.PathLike, expect: str | None = None, device: Any = "cpu", saved_by: str | None = None
) -> Any:
    """The tree of the agent file at `path` (tensors on `device`); `expect`: the agent name it must hold.

    Raises FileNotFoundError, or `AgentFileError` naming the file and what is wrong with it.
    """
    p = Path(path)
    with open_archive(p, saved_by) as archive:
        names = archive.namelist()
        if JSON_MEMBER not in names:
            if is_old_torch_pickle(archive):
                raise AgentFileError(f"{label(p, saved_by)} is a torch.save pickle written by an earlier MusicGym; "
                                     f"it is not loaded. {RESAVE_HINT}")
            raise AgentFileError(f"{label(p, saved_by)} is a zip archive but not a MusicGym agent file "
                                 f"(no {JSON_MEMBER!r}; members: {names[:6]})")
        header = parse_header(read_member(archive, JSON_MEMBER, p, saved_by), p, saved_by)
        if expect is not None and header["agent"] != expect:
            raise AgentFileError(f"{p} holds a saved {header['agent']!r} agent, not a {expect!r}")
        arrays = (load_arrays(read_member(archive, ARRAYS_MEMBER, p, saved_by), f"{p}:{ARRAYS_MEMBER}")
                  if ARRAYS_MEMBER in names else {})
        tensors = (load_tensors(read_member(archive, TENSORS_MEMBER, p, saved_by), f"{p}:{TENSORS_MEMBER}", device)
                   if TENSORS_MEMBER in names else {})
    if not isinstance(tensors, dict):
        raise AgentFileError(f"{p}:{TENSORS_MEMBER} is not a dict of tensors")
    try:
        return decode(header["state"], arrays, tensors)
    except (KeyError, ValueError, TypeError) as e:
        raise AgentFileError(f"{label(p, saved_by)} is damaged: its state names data it does not hold ({e})") from e


def parse_header(blob: bytes, path: Path, saved_by: str | None = None) -> dict[str, Any]:
    """The checked ``musicgym/agent.json`` of an agent file."""
    try:
        header = json.loads(blob.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AgentFileError(f"{label(path, saved_by)}: {JSON_MEMBER} is not valid JSON ({e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT or "state" not in header:
        raise AgentFileError(f"{label(path, saved_by)}: {JSON_MEMBER} is not a MusicGym agent header")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise AgentFileError(f"{label(path, saved_by)} was written by a newer MusicGym (format version "
                             f"{header.get('version')!r}; this one reads {VERSION}): upgrade MusicGym to load it")
    if not isinstance(header.get("agent"), str):
        raise AgentFileError(f"{label(path, saved_by)}: {JSON_MEMBER} names no agent")
    return header


# ---------------------------------------------------------------------------------------------- RNG states
def global_rng_state(device: Any = None) -> dict[str, Any]:
    """Python's, numpy's legacy and torch's global generators (and CUDA's on a CUDA `device`), as data."""
    import torch

    out = {"python": random.getstate(), "numpy": np.random.get_state(legacy=False),
           "torch": torch.get_rng_state().numpy()}
    if device is not None and getattr(device, "type", None) == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device).numpy()
    return out


def set_global_rng_state(state: dict[str, Any], device: Any = None) -> None:
    """Restore `global_rng_state`'s generators."""
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.as_tensor(np.asarray(state["torch"], dtype=np.uint8), device="cpu"))
    if "cuda" in state and device is not None and getattr(device, "type", None) == "cuda":
        torch.cuda.set_rng_state(torch.as_tensor(np.asarray(state["cuda"], dtype=np.uint8), device="cpu"), device)


BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's state (JSON-safe: its bit generator's name and integers)."""
    return gen.bit_generator.state


def restore_generator(state: dict[str, Any]) -> np.random.Generator:
    """A numpy Generator continuing from `generator_state`."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}; expected one of {BIT_GENERATORS}")
    bit_gen = getattr(np.random, name)()
    bit_gen.state = state
    return np.random.Generator(bit_gen)
