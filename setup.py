"""Packaging details pyproject.toml cannot express: the repository's scenarios/ folder ships
inside the wheel as package data `sim/scenarios/*.toml`, so `sim list` and `sim run NAME`
work in any installation. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["sim", "sim.*"]), "sim.scenarios"],
    package_dir={"sim.scenarios": "scenarios"},
)
