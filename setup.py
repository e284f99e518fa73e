"""Packages are found, not listed: every package under the four source folders goes into the wheel
(a new model family folder under recipes/families/ included). Metadata is in pyproject.toml."""
from setuptools import find_packages, setup

FOLDERS = {"ttsx": "ttsx", "ttsx.exporter": "exporter", "ttsx.runtimes": "runtimes", "ttsx.recipes": "recipes"}

setup(packages=[f"{package}.{sub}" if sub else package for package, folder in FOLDERS.items()
                for sub in ["", *find_packages(folder)]])
