"""Small typed results of the top-level stages (:mod:`caloforge.api`).

Each has a one-paragraph ``repr`` (no arrays) and ``to_dict()`` (JSON-ready). Energies in GeV
where the name says so, otherwise MeV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CandidateScores",
    "Evaluation",
    "Exported",
    "Generated",
    "Response",
    "TrainedModel",
    "TrainingRun",
]


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class TrainingRun:
    """One seed's training: its folder, steps, the best validation step and its score (lower is
    better: the sum of validation separation powers), wall time in seconds."""

    out_dir: Path
    seed: int
    steps: int
    best_step: int | None
    best_score: float | None
    wall_seconds: float


@dataclass(frozen=True)
class TrainedModel:
    """What ``caloforge.train`` produced: ``model_dir`` is the model to use (the best
    validation step's ``best/`` when there is one), ``runs`` one entry per seed."""

    family: str
    model_dir: Path
    runs: tuple[TrainingRun, ...]

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def __repr__(self) -> str:
        best = ", ".join(
            f"seed {r.seed}: {r.steps} steps"
            + (
                f", best step {r.best_step} (validation score {r.best_score:.3f})"
                if r.best_score is not None
                else ""
            )
            for r in self.runs
        )
        return f"TrainedModel({self.family} in {self.model_dir}; {best})"


@dataclass(frozen=True)
class Generated:
    """A generated shower file: its path, number of showers and the model used."""

    path: Path
    n_showers: int
    model_dir: Path

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def __repr__(self) -> str:
        return f"Generated({self.n_showers} showers in {self.path} from {self.model_dir})"


@dataclass(frozen=True)
class Exported:
    """An exported generator: the file, its metadata sidecar and the parity check (max |ONNX
    Runtime - PyTorch| in MeV, and relative to the largest cell; 0 checked: no check)."""

    path: Path
    sidecar: Path
    max_abs_diff_mev: float
    relative_diff: float
    n_checked: int

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def __repr__(self) -> str:
        parity = (
            f"parity {self.relative_diff:.2g} of the largest cell on {self.n_checked} showers"
            if self.n_checked
            else "no parity check"
        )
        return f"Exported({self.path}; {parity})"


@dataclass(frozen=True)
class Response:
    """Linearity <E_tot>/E_inc and resolution sigma/mu per incident-energy point."""

    e_inc_gev: tuple[float, ...]
    linearity: tuple[float, ...]
    resolution: tuple[float, ...]

    @classmethod
    def from_metrics(cls, response: dict[str, list[float]]) -> Response:
        return cls(
            tuple(e / 1000.0 for e in response["e_inc_mev"]),
            tuple(response["linearity"]),
            tuple(response["resolution"]),
        )


@dataclass(frozen=True)
class CandidateScores:
    """One candidate against the reference: classifier AUCs (None when not run) with their
    errors, FPD, KPD, the flagged observables out of ``n_observables`` and the response."""

    label: str
    n_showers: int
    auc_low_level: tuple[float, float] | None
    auc_high_level: tuple[float, float] | None
    fpd: tuple[float, float]
    kpd: tuple[float, float]
    flagged: tuple[str, ...]
    n_observables: int
    response: Response

    def __repr__(self) -> str:
        auc = (
            f"AUC low {self.auc_low_level[0]:.3f}, high {self.auc_high_level[0]:.3f}; "
            if self.auc_low_level and self.auc_high_level
            else ""
        )
        return (
            f"{self.label}: {auc}FPD {self.fpd[0]:.4g}, flagged {len(self.flagged)} of "
            f"{self.n_observables}"
        )


@dataclass(frozen=True)
class Evaluation:
    """What ``caloforge.evaluate`` measured: ``candidates`` by label, the reference's response,
    the report folder (None when none was written) and the full metrics (``to_dict()``, the
    content of ``metrics.json``)."""

    reference: str
    n_reference: int
    reference_response: Response
    candidates: dict[str, CandidateScores]
    report: Path | None
    metrics: dict[str, Any] = field(repr=False)

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any], report: Path | None) -> Evaluation:
        cands = {}
        for label, c in metrics["candidates"].items():
            cls_ = c.get("classifier", {})
            low, high = cls_.get("low_level"), cls_.get("high_level")
            n_obs = len(c["observables"]) + 1  # + the cell spectrum
            cands[label] = CandidateScores(
                label=label,
                n_showers=c["n_showers"],
                auc_low_level=(low["auc"], low["error"]) if low else None,
                auc_high_level=(high["auc"], high["error"]) if high else None,
                fpd=(c["fpd"]["value"], c["fpd"]["error"]),
                kpd=(c["kpd"]["value"], c["kpd"]["error"]),
                flagged=tuple(c["flagged"]),
                n_observables=n_obs,
                response=Response.from_metrics(c["response"]),
            )
        ref = metrics["reference"]
        return cls(
            ref["source"],
            ref["n_showers"],
            Response.from_metrics(ref["response"]),
            cands,
            report,
            metrics,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.metrics

    def __repr__(self) -> str:
        lines = [f"Evaluation(reference {self.reference!r}, {self.n_reference} showers"]
        lines += [f"  {c!r}" for c in self.candidates.values()]
        if self.report is not None:
            lines.append(f"  report: {self.report}")
        return "\n".join(lines) + ")"
