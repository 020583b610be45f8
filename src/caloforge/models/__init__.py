"""Generative models: one generator interface, model families by name, artifacts, generation.

- :class:`Generator` -- ``forward(noise, conditions) -> cells`` (MeV), ``sample``, ``make_noise``,
  ``encode_conditions``; explicit noise everywhere.
- :class:`Family` and :data:`FAMILIES` -- the registry (:mod:`caloforge.models.registry`).
- :func:`save_model` / :func:`load_model` -- the artifact folder (safetensors + model.json).

Generation (streaming samples to a shower file) is :func:`caloforge.generation.generate`.

Names are imported on first use: ``import caloforge.models`` (and the registry, which the
command line reads for its help) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.models.artifact import Artifact, load_model, save_model
    from caloforge.models.base import Batch, Family, Generator
    from caloforge.models.conditions import ConditionEncoding
    from caloforge.models.preprocessing import Preprocessing
    from caloforge.models.registry import FAMILIES, family_names, get_family

__all__ = [
    "FAMILIES",
    "Artifact",
    "Batch",
    "ConditionEncoding",
    "Family",
    "Generator",
    "Preprocessing",
    "family_names",
    "get_family",
    "load_model",
    "save_model",
]

_WHERE = {
    "FAMILIES": "registry",
    "family_names": "registry",
    "get_family": "registry",
    "Artifact": "artifact",
    "load_model": "artifact",
    "save_model": "artifact",
    "Batch": "base",
    "Family": "base",
    "Generator": "base",
    "ConditionEncoding": "conditions",
    "Preprocessing": "preprocessing",
}


__getattr__ = lazy_attributes(__name__, {k: f".{v}" for k, v in _WHERE.items()})


def __dir__() -> list[str]:
    return sorted(__all__)
