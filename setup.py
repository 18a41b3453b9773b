"""Package layout only (metadata lives in pyproject.toml).

The repository keeps the design card's folders (``golden/``, ``rtl/``, ``sim/``, ``gen/``) at the top level;
installed, each is a subpackage of the single import name ``macforge``. Subpackages inside those folders are
found automatically, so a new one needs no edit here (``tests/test_packaging.py`` checks the wheel).
"""

from setuptools import find_packages, setup

FOLDERS = ("golden", "rtl", "sim", "gen")

package_dir = {"macforge": "macforge"}
packages = ["macforge"]
for folder in FOLDERS:
    package_dir[f"macforge.{folder}"] = folder
    packages += [f"macforge.{folder}"] + [f"macforge.{folder}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
