"""The Jinja environment of the documents, and template errors as the user would name them."""

from __future__ import annotations

import functools
import os
import re
import traceback
from pathlib import Path
from typing import Any

import jinja2

from ..._i18n import DEFAULT, language
from ...exceptions import KetaplanError, TemplateError
from ._markdown import markdown_escape

Templates = str | os.PathLike[str] | None
"""A folder of templates that override the shipped ones by file name, or None."""

SHIPPED = Path(__file__).resolve().parent.parent.parent / "templates"
"""The folder of the templates shipped with ketaplan."""


def render(templates: Templates, name: str, context: object, *, tag: str = DEFAULT) -> str:
    """The template ``name`` rendered with ``doc=context`` in the language ``tag``, tidied: one
    final newline, no trailing spaces."""
    folder = _folder(templates)
    environment = _cached_environment(folder, markdown=name.endswith(".md.j2"), tag=tag)
    try:
        text = environment.get_template(name).render(doc=context)
    except KetaplanError:
        raise
    except jinja2.TemplateSyntaxError as error:
        raise _template_error(folder, error, error.filename, error.lineno) from None
    except Exception as error:
        frame = _template_frame(error)
        if frame is None and not isinstance(error, jinja2.TemplateError):
            raise
        filename, line = frame if frame is not None else (None, None)
        raise _template_error(folder, error, filename, line) from None
    # Templates use Jinja's whitespace control loosely; the output has no
    # trailing spaces, no runs of blank lines and exactly one final newline.
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


def _template_frame(error: BaseException) -> tuple[str, int] | None:
    """The template file and line of the innermost template frame in ``error``'s traceback."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.endswith(".j2") and frame.lineno is not None:
            found = (frame.filename, frame.lineno)
    return found


def _template_error(
    folder: str | None, error: Exception, filename: str | None, line: int | None
) -> TemplateError:
    """``error`` as a TemplateError naming the template as the user would: relative to its folder."""
    name = getattr(error, "name", None) or "(unknown template)"
    if filename is not None:
        path = Path(filename).resolve()
        if folder is not None and path.is_relative_to(folder):
            name = path.relative_to(folder).as_posix()
        elif path.is_relative_to(SHIPPED):
            name = "ketaplan/" + path.relative_to(SHIPPED).as_posix()
        else:
            name = path.name
    if isinstance(error, jinja2.TemplateSyntaxError):
        problem = error.message or "syntax error"
    elif isinstance(error, jinja2.TemplateNotFound):
        problem = f"template {error.name!r} not found"
    elif isinstance(error, jinja2.UndefinedError):
        # "'ketaplan.export.documents._course.Heading object' has no attribute 'x'"
        # -> "'Heading' has no attribute 'x'"
        problem = re.sub(r"'[\w.]+\.(\w+) object'", r"'\1'", error.message or "undefined value")
    else:
        problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return TemplateError(name, " ".join(problem.split()), line=line)


def _folder(templates: Templates) -> str | None:
    """The templates folder as an absolute path, checked to exist."""
    if templates is None:
        return None
    folder = Path(templates)
    if not folder.is_dir():
        raise TemplateError(
            f"folder {str(folder)!r}", "does not exist or is not a folder of .j2 templates"
        )
    return str(folder.resolve())


@functools.cache
def _cached_environment(folder: str | None, *, markdown: bool, tag: str) -> jinja2.Environment:
    """One environment per templates folder and language: its files first, then the shipped ones.

    A shipped template is also reachable as ``ketaplan/<name>``, so a file in
    the folder can extend the shipped template it replaces. Templates mark
    their texts for translation with ``jinja2.ext.i18n`` (``{% trans %}``,
    ``_()``), whitespace trimmed, translated into the language ``tag``, which
    they see as ``language`` (``<html lang="{{ language }}">``).
    """
    shipped = jinja2.PackageLoader("ketaplan", "templates")
    loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"ketaplan": shipped}), shipped]
    if folder is not None:
        loaders.insert(0, jinja2.FileSystemLoader(folder))
    options: dict[str, Any] = (
        {"autoescape": False, "finalize": markdown_escape} if markdown else {"autoescape": True}
    )
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        **options,
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.globals["language"] = tag
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        language(tag).translations, newstyle=True
    )
    return environment
