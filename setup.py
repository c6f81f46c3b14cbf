"""Only what pyproject.toml cannot say: ship ``strongroom_redact.pth`` at the root of site-packages.

The ``.pth`` makes a child Python inherit ``strongroom.redact.install()`` (``strongroom.redact.startup``):
it costs one environment lookup at interpreter start and imports nothing unless STRONGROOM_REDACT=1. A
build sub-command puts it beside the packages, so both a wheel and an editable install (PEP 660) carry it.
"""

from __future__ import annotations

import os

from setuptools import Command, setup
from setuptools.command.build import build

PTH = "strongroom_redact.pth"
SOURCE = os.path.join("src", PTH)


class BuildPth(Command):
    """Copy the ``.pth`` into the build directory's root (site-packages once installed)."""

    description = "put strongroom_redact.pth at the root of site-packages"
    user_options: list[tuple[str, str | None, str]] = []  # noqa: RUF012 -- distutils' interface

    def initialize_options(self) -> None:
        self.build_lib: str | None = None
        self.editable_mode = False

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def run(self) -> None:
        # An editable wheel ignores build_lib (the packages stay in src/); what belongs at the wheel's root
        # goes straight to the directory it is made from, which setuptools gives `install` (PEP 660).
        root = self.get_finalized_command("install").install_lib if self.editable_mode else self.build_lib
        assert root is not None  # noqa: S101 -- set by finalize_options or setuptools
        self.copy_file(SOURCE, os.path.join(root, PTH))

    def get_outputs(self) -> list[str]:
        return [os.path.join(self.build_lib or "", PTH)]

    def get_output_mapping(self) -> dict[str, str]:
        return {}  # a copy, never a link to the source: site only reads a real file

    def get_source_files(self) -> list[str]:
        return [SOURCE]


class Build(build):
    sub_commands = [*build.sub_commands, ("build_pth", None)]  # noqa: RUF012 -- distutils' interface


setup(cmdclass={"build": Build, "build_pth": BuildPth})
