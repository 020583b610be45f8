"""Generative models: one generator interface, model families by name, artifacts, generation.

- :class:`Generator` -- ``forward(noise, conditions) -> cells`` (MeV), ``sample``, ``make_noise``,
  ``encode_conditions``; explicit noise everywhere.
- :class:`Family` and :data:`FAMILIES` -- ``wgan-gp``, ``gan-ecritic``, ``vae``.
- :func:`save_model` / :func:`load_model` -- the artifact folder (safetensors + model.json).
"""

from caloforge.models import gan_ecritic, vae, wgan_gp
from caloforge.models.artifact import Artifact, load_model, save_model
from caloforge.models.base import Batch, Family, Generator
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.registry import FAMILIES, get_family

__all__ = [
    "FAMILIES",
    "Artifact",
    "Batch",
    "ConditionEncoding",
    "Family",
    "Generator",
    "Preprocessing",
    "gan_ecritic",
    "get_family",
    "load_model",
    "save_model",
    "vae",
    "wgan_gp",
]
