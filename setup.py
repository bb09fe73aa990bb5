"""Compile the gettext catalogues (``.po`` to ``.mo``) whenever the package is built.

Everything else about the package is in pyproject.toml. ``pip install .``
builds a wheel, whose ``build_py`` step writes each compiled catalogue next to
its ``.po`` in the build; ``pip install -e .`` runs the same step in editable
mode, which writes the compiled catalogues into the source tree (they are not
kept in git). ``ketaplan._i18n`` compiles a catalogue in memory where neither
has happened, such as a source tree used without installing it.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_catalogues(build_py):
    """``build_py``, then compile every ``locale/*/LC_MESSAGES/*.po`` of the package."""

    def run(self) -> None:
        super().run()
        source = Path(self.get_package_dir("ketaplan"))
        target = source if self.editable_mode else Path(self.build_lib) / "ketaplan"
        for po in sorted(source.glob("locale/*/LC_MESSAGES/*.po")):
            mo = target / po.relative_to(source).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as file:
                catalogue = read_po(file, locale=po.parent.parent.name)
            with mo.open("wb") as file:
                write_mo(file, catalogue)


setup(cmdclass={"build_py": build_py_with_catalogues})
