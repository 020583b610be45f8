"""The one registry of model families: name, module, class and a one-line summary.

Reading the names (:func:`family_names`, :func:`family_help`) imports no torch, so the command
line builds its ``--family`` choices and help from here at no cost; :func:`get_family` imports
the family's module on first use. Adding a family = its module plus one :data:`REGISTRY` line.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caloforge.models.base import Family

__all__ = ["FAMILIES", "REGISTRY", "FamilyEntry", "family_help", "family_names", "get_family"]


@dataclass(frozen=True)
class FamilyEntry:
    """A registered family: ``name`` (the ``--family`` value and ``Family.name``), ``target``
    (``"package.module:Class"``) and ``summary`` (one line for ``caloforge train --help``)."""

    name: str
    target: str
    summary: str


REGISTRY: tuple[FamilyEntry, ...] = (
    FamilyEntry("wgan-gp", "caloforge.models.wgan_gp:WGANGP", "conditional WGAN-GP, dense nets"),
    FamilyEntry(
        "gan-ecritic",
        "caloforge.models.gan_ecritic:EnergyCriticGAN",
        "WGAN-GP + energy critic + conditional MMD, likelihood E_tot head",
    ),
    FamilyEntry("vae", "caloforge.models.vae:VAE", "conditional VAE, dense encoder/decoder"),
    FamilyEntry(
        "flow-matching",
        "caloforge.models.flow_matching:FlowMatching",
        "two-stage conditional flow matching (energies, then shapes), fixed-step ODE solver",
    ),
    FamilyEntry(
        "flow",
        "caloforge.models.flow:Flow",
        "two-stage spline-coupling normalising flow (energies, then shapes); teacher = distil",
    ),
    FamilyEntry(
        "gan3d",
        "caloforge.models.gan3d:GAN3D",
        "3DGAN: 3D conv generator and discriminator with an energy-regression head",
    ),
    FamilyEntry(
        "gan-mbd",
        "caloforge.models.gan_mbd:GANMBD",
        "GAN with minibatch discrimination, layer-wise conv nets (Getting High)",
    ),
    FamilyEntry(
        "wgan-lo",
        "caloforge.models.wgan_lo:WGANLO",
        "WGAN-GP with latent optimisation (LOGAN), layer-wise conv nets",
    ),
    FamilyEntry(
        "bib-ae",
        "caloforge.models.bib_ae:BIBAE",
        "BIB-AE: VAE + image/latent critics + MMD, post-processor, KDE latent sampling",
    ),
)


def family_names() -> list[str]:
    """The registered family names, in registry order (no import of any family)."""
    return [e.name for e in REGISTRY]


def family_help() -> str:
    """``name (summary); ...`` for command-line help."""
    return "; ".join(f"{e.name} ({e.summary})" for e in REGISTRY)


def _entry(name: str) -> FamilyEntry:
    for entry in REGISTRY:
        if entry.name == name:
            return entry
    msg = f"unknown model family {name!r}; known: {', '.join(sorted(family_names()))}"
    raise ValueError(msg)


def get_family(name: str) -> type[Family[Any]]:
    """The :class:`~caloforge.models.base.Family` subclass registered as ``name``."""
    from caloforge.models.base import Family

    entry = _entry(name)
    module_name, _, attr = entry.target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Family)) or cls.name != entry.name:
        msg = f"registry entry {entry.name!r}: {entry.target} is not a Family named {entry.name!r}"
        raise TypeError(msg)
    return cls


class _Families(Mapping[str, "type[Family[Any]]"]):
    """Read-only name -> class view of :data:`REGISTRY`; a class is imported when looked up."""

    def __getitem__(self, name: str) -> type[Family[Any]]:
        try:
            return get_family(name)
        except ValueError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(family_names())

    def __len__(self) -> int:
        return len(REGISTRY)


#: every registered family by name (``sorted(FAMILIES)`` imports nothing; ``FAMILIES[name]`` does)
FAMILIES: Mapping[str, type[Family[Any]]] = _Families()
