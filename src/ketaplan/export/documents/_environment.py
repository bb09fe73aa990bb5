"""The Jinja environment of the documents, and template errors as the user would name them.

Compiled templates are kept in a bytecode cache in the user's cache folder
(``$XDG_CACHE_HOME/ketaplan`` or ``~/.cache/ketaplan``), so a new process
does not compile them again. Jinja keys each cached template on its file
name and checks the checksum of its source before using it, so an edited
template (shipped or in a custom folder) is compiled afresh. A cache folder
that cannot be created or written only costs the compiling: it never fails
a build.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import types
from collections.abc import Callable
from gettext import NullTranslations
from pathlib import Path
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.ext
import jinja2.nodes
import jinja2.runtime
import markupsafe

from ..._cache import cache_folder
from ..._i18n import DEFAULT, language
from ...exceptions import KetaplanError, TemplateError
from . import _markdown
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
    text = "\n".join(map(str.rstrip, text.splitlines()))
    return _BLANK_LINES.sub("\n\n", text).strip("\n") + "\n"


# A run of three newlines or more, shortened to two in one pass (``replace`` took several).
# Written out rather than "\n{3,}": re then looks for its literal start, not at every place.
_BLANK_LINES = re.compile("\n\n\n+")


def _template_frame(error: BaseException) -> tuple[str, int] | None:
    """The template file and line of the innermost template frame in ``error``'s traceback."""
    import traceback  # only on an error: a millisecond of every start

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


@functools.lru_cache(maxsize=32)
def _cached_environment(folder: str | None, *, markdown: bool, tag: str) -> jinja2.Environment:
    """One environment per templates folder and language: its files first, then the shipped ones.

    A shipped template is also reachable as ``ketaplan/<name>``, so a file in
    the folder can extend the shipped template it replaces. Templates mark
    their texts for translation with ``jinja2.ext.i18n`` (``{% trans %}``,
    ``_()``), whitespace trimmed, translated into the language ``tag``, which
    they see as ``language`` (``<html lang="{{ language }}">``). A
    ``{% trans %}`` text is translated as the template is compiled
    (:class:`_CompiledTranslations`), a value shown in HTML is escaped into
    plain text (:class:`_TextOutputCodeGenerator`), and ``once`` renders a part
    of a document once for its values (:func:`_once`).
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
        extensions=[_CompiledTranslations],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        **options,
    )
    environment.code_generator_class = _TextOutputCodeGenerator
    environment.extend(ketaplan_escape=_escape_text)
    environment.filters["ketaplan_escape_value"] = _escape_value
    environment.policies["ext.i18n.trimmed"] = True
    environment.globals["language"] = tag
    translations = language(tag).translations
    environment.extend(ketaplan_translations=translations)
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations, newstyle=True
    )
    gettext, ngettext = _gettext(translations), _ngettext(translations)
    once = _once() if folder is None else _every_time
    environment.globals.update(gettext=gettext, _=gettext, ngettext=ngettext, once=once)
    environment.bytecode_cache = _bytecode_cache(environment)
    return environment


#: How many parts of documents an environment keeps (:func:`_once`).
_FRAGMENTS = 512


def _once() -> Callable[..., str]:
    """``once``, for the shipped templates: ``{% call once(name, value, ...) %}body{% endcall %}``
    shows the body rendered once for each distinct set of values, and kept (at most
    ``_FRAGMENTS`` parts, for the environment: one language).

    A dosing session's checkpoints and dose record come back alike in most
    sessions of a plan and of other plans of its protocol. The body must show
    nothing but the values named and the template's own texts: it is not
    rendered again for another document with the same values. The shipped
    templates keep to that; a clinic's own templates need not, so where a
    templates folder is given ``once`` is :func:`_every_time`, and one
    patient's document never shows what was rendered for another's.
    """
    kept: dict[tuple[object, ...], str] = {}

    @jinja2.pass_context
    def once(context: jinja2.runtime.Context, name: str, *values: object, caller: Any) -> str:
        key = (context.name, name, values)
        found = kept.get(key)
        if found is None:
            if len(kept) >= _FRAGMENTS:
                kept.clear()
            found = kept[key] = caller()
        return found

    return once


def _every_time(name: str, *values: object, caller: Callable[[], str]) -> str:
    """``once`` for templates from a clinic's own folder: the body rendered each time."""
    return caller()


class _TextOutputCodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja's code generator, where a value shown in autoescaped output is escaped into a
    plain text (:func:`_escape_text`) rather than into a ``Markup`` object.

    The pieces of a template's output are only ever joined into one text, so the
    output is the same; making a ``Markup`` object of each of the two thousand values
    of a year's HTML documents was a third of their rendering time. (Should Jinja stop
    calling ``_output_child_pre``, its own ``escape`` is used: the same output, slower.)
    """

    def _output_child_pre(
        self,
        node: jinja2.nodes.Expr,
        frame: jinja2.compiler.Frame,
        finalize: Any,
    ) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("environment.ketaplan_escape(")  # instead of Jinja's "escape("
        if finalize.src is not None:
            self.write(finalize.src)


def _replace_specials(text: str) -> str:
    """``text`` with HTML's special characters replaced as markupsafe replaces them."""
    return (
        text.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


# markupsafe's own escaping of a text (in C where it is built; a third of the time of
# the replacements) without the Markup object around it; markupsafe before 3.0 has none.
_escape_str: Callable[[str], str] = getattr(markupsafe, "_escape_inner", None) or _replace_specials

#: A translated text whose every variable is shown as text, ``%(name)s``, as Jinja writes them.
_ONLY_TEXTS = re.compile(r"(?:[^%]|%%|%\(\w+\)s)*")


@jinja2.pass_eval_context
def _escape_value(context: jinja2.nodes.EvalContext, value: object) -> object:
    """``value`` escaped where the output is autoescaped (:func:`_escape_text`), else as it is:
    a variable of a ``{% trans %}`` text (:class:`_CompiledTranslations`)."""
    return _escape_text(value) if context.autoescape else value


def _escape_text(value: object) -> str:
    """``markupsafe.escape(value)``, as a plain text where ``value`` is a plain text."""
    if value.__class__ is str:
        return _escape_str(value)
    if value.__class__ is int:  # a coordinate, a count: digits and a sign, nothing to escape
        return str(value)
    if value.__class__ is markupsafe.Markup:  # a translated text: escaped already
        return value
    return markupsafe.escape(value)


class _CompiledTranslations(jinja2.ext.InternationalizationExtension):
    """``jinja2.ext.i18n``, where a ``{% trans %}`` text is translated when the template is
    compiled rather than each time it is shown (a heading in a table's every row): an
    environment has one language. The output is the same: the translation is marked safe
    where the output is autoescaped, then formatted with the variables (``%%`` is ``%``
    even without any), and Jinja applies the environment's ``finalize`` (Markdown escaping)
    to it as it would at rendering. A text with variables is formatted as it is shown, in
    the template's own code: no call of ``gettext`` through Jinja's context for each text
    of each row."""

    def _make_node(
        self,
        singular: str,
        plural: str | None,
        context: str | None,
        variables: dict[str, jinja2.nodes.Expr],
        plural_expr: jinja2.nodes.Expr | None,
        vars_referenced: bool,
        num_called_num: bool,
    ) -> jinja2.nodes.Output:
        translations = getattr(self.environment, "ketaplan_translations", None)
        if (
            translations is not None
            and self.environment.newstyle_gettext  # type: ignore[attr-defined]
            and context is None
            and plural_expr is None
        ):
            text = translations.gettext(singular)
            if variables and _ONLY_TEXTS.fullmatch(text):
                # As _gettext's Markup(text) % variables where autoescaped, which escapes
                # each value into the text (three times the time of escaping them first).
                escaped = [
                    jinja2.nodes.Pair(
                        jinja2.nodes.Const(key),
                        jinja2.nodes.Filter(value, "ketaplan_escape_value", [], [], None, None),
                    )
                    for key, value in variables.items()
                ]
                formatted = jinja2.nodes.Mod(jinja2.nodes.Const(text), jinja2.nodes.Dict(escaped))
                return jinja2.nodes.Output([jinja2.nodes.MarkSafeIfAutoescape(formatted)])
            if variables:  # another conversion than %(name)s: as _gettext
                pairs = [jinja2.nodes.Pair(jinja2.nodes.Const(k), v) for k, v in variables.items()]
                formatted = jinja2.nodes.Mod(
                    jinja2.nodes.MarkSafeIfAutoescape(jinja2.nodes.Const(text)),
                    jinja2.nodes.Dict(pairs),
                )
                return jinja2.nodes.Output([formatted])
            with contextlib.suppress(TypeError, ValueError, KeyError):  # left to rendering
                return jinja2.nodes.Output(
                    [jinja2.nodes.MarkSafeIfAutoescape(jinja2.nodes.Const(text % {}))]
                )
        return super()._make_node(
            singular, plural, context, variables, plural_expr, vars_referenced, num_called_num
        )


def _gettext(translations: NullTranslations) -> Callable[..., str]:
    """Jinja's newstyle ``gettext`` (``{% trans %}``, ``_()``) for ``translations``, with the
    same result: the translation, marked safe where the output is autoescaped, then
    formatted with the variables (``%%`` is ``%`` even without any). Each text is
    translated once (templates translate some texts in every row)."""

    @functools.lru_cache(maxsize=1024)
    def translated(message: str, autoescape: bool) -> str:
        text = translations.gettext(message)
        return markupsafe.Markup(text) if autoescape else text

    @functools.lru_cache(maxsize=1024)
    def constant(message: str, autoescape: bool) -> str:
        return translated(message, autoescape) % {}

    @jinja2.pass_eval_context
    def gettext(context: jinja2.nodes.EvalContext, message: str, **variables: object) -> str:
        if not variables:
            return constant(message, context.autoescape)
        return translated(message, context.autoescape) % variables

    return gettext


def _ngettext(translations: NullTranslations) -> Callable[..., str]:
    """Jinja's newstyle ``ngettext`` (``{% pluralize %}``) for ``translations``: as
    :func:`_gettext`, with the count as the variable ``num`` unless given."""

    @jinja2.pass_eval_context
    def ngettext(
        context: jinja2.nodes.EvalContext,
        singular: str,
        plural: str,
        count: int,
        **variables: object,
    ) -> str:
        variables.setdefault("num", count)
        text = translations.ngettext(singular, plural, count)
        return (markupsafe.Markup(text) if context.autoescape else text) % variables

    return ngettext


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """A bytecode cache in a folder, where a file that cannot be read or written is compiled anew."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # an unreadable or damaged cache file: compile the template again
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        # A full disk or a read-only folder: the compiled code stays in memory only.
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache(environment: jinja2.Environment) -> jinja2.BytecodeCache | None:
    """The bytecode cache for ``environment``, or None when no private folder can be had.

    The compiled code depends on Jinja's version and on the environment's
    settings (escaping, whitespace control, extensions), so each combination
    has a folder of its own.
    """
    # Compiled code is executed: only a folder of this user's that nobody else can write.
    folder = cache_folder(f"jinja-{jinja2.__version__}-{_fingerprint(environment)}")
    if folder is None:
        return None
    return _QuietBytecodeCache(str(folder))


def _fingerprint(environment: jinja2.Environment) -> str:
    """A short digest of the settings of ``environment`` that change its compiled code,
    its language's translations and the Markdown escaping among them."""
    translations = getattr(environment, "ketaplan_translations", None)
    catalogue = getattr(translations, "_catalog", {})
    # Jinja applies ``finalize`` to constant texts as it compiles: how Markdown is escaped.
    escape = _markdown._escape.__wrapped__.__code__
    settings = (
        environment.globals.get("language"),
        tuple(catalogue.items()),  # in the catalogue's order: stable for a catalogue
        (escape.co_code, escape.co_consts, _markdown._MARKDOWN_SPECIAL.pattern),
        _markdown._MARKDOWN_LEADING.pattern,
        _code(_CompiledTranslations._make_node.__code__),  # how {% trans %} is compiled
        _ONLY_TEXTS.pattern,
        _code(_TextOutputCodeGenerator._output_child_pre.__code__),  # and values escaped
        sorted(environment.extensions),
        sorted((key, repr(value)) for key, value in environment.policies.items()),
        bool(environment.autoescape),
        environment.finalize is not None,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.keep_trailing_newline,
        environment.newline_sequence,
        environment.block_start_string,
        environment.variable_start_string,
        environment.comment_start_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
    )
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def _code(code: types.CodeType) -> tuple[object, ...]:
    """What ``code`` does, the same in every process (the repr of a nested code object, a
    comprehension's, has its address)."""
    constants = tuple(_code(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return (code.co_code, constants, code.co_names)
