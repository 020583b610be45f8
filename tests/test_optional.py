"""``caloforge._optional.require``: an optional package, or an error naming the extra."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caloforge._optional import MissingExtraError, require


def test_require_returns_an_installed_module() -> None:
    assert require("json", "export", "nothing") is json


def test_a_missing_package_names_the_extra_and_what_needed_it() -> None:
    with pytest.raises(MissingExtraError) as info:
        require("caloforge_absent_pkg.sub", "scale", "caloforge tune")
    message = str(info.value)
    assert "caloforge tune" in message
    assert "'caloforge_absent_pkg.sub'" in message
    assert "pip install 'caloforge[scale]'" in message
    assert "\n" not in message
    assert isinstance(info.value, ImportError)


def test_a_broken_installed_package_is_not_blamed_on_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the package exists but one of its own dependencies does not: the original error stays
    (tmp_path / "caloforge_broken_pkg.py").write_text("import caloforge_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("caloforge_broken_pkg", "export", "caloforge export")
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == "caloforge_absent_dependency"
