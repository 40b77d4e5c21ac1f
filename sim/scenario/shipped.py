"""The scenarios shipped with the package, and finding a scenario file by name or by path.

In an installed wheel the repository's `scenarios/*.toml` are package data in
`sim/scenarios/` (see setup.py); in a checkout (editable install) they are read from the
repository's `scenarios/` folder itself, so edits there are seen at once.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # .../sim


def shipped_dir() -> Path:
    """Folder of the shipped scenario files (installed copy, else the checkout's)."""
    packaged = _PACKAGE / "scenarios"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "scenarios"


def default_dir() -> Path:
    """./scenarios when the current folder has one, else the shipped scenarios."""
    here = Path("scenarios")
    return here if here.is_dir() else shipped_dir()


def find_scenario(arg: str | Path) -> Path:
    """The scenario file meant by a command-line argument.

    An existing file is taken as given (a user's own scenario). Otherwise a bare name such
    as `antimony_2024` (or `antimony_2024.toml`) is looked up in ./scenarios, then among the
    shipped scenarios. Anything else is returned unchanged, so the loader reports the
    missing file with its usual one-line error.
    """
    p = Path(arg)
    if p.is_file() or len(p.parts) != 1:
        return p
    name = p.name if p.suffix == ".toml" else p.name + ".toml"
    for folder in (Path("scenarios"), shipped_dir()):
        if (folder / name).is_file():
            return folder / name
    return p
