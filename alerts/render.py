"""Rendering a letter: plain text, Markdown, HTML (Jinja2) and DOCX (docxtpl), from one wording.

The sentences of a letter (title, opening, each finding's line and basis,
what is required, the consequence) are written once, in
``templates/wording.j2``; the four format templates only lay them out, so an
office that rewords a letter changes one file and every format follows. The
printed letter is ``templates/letter.docx``, a Word file laid out to GB/T
9704-2012 (red 版头 and rule, 发文字号, 小标宋 title, 仿宋_GB2312 三号 body,
page numbers, 抄送) that an office can open and edit in Word; docxtpl fills
its tags. Any template can be overridden by a file of the same name in the
folder named by ``letters.templates``.

A format is rendered only when a channel asks for it (:class:`Formats`): a
letter that goes only to a group robot never builds a DOCX. Likewise Jinja2
is imported when the first letter is worded and docxtpl (python-docx, lxml)
when the first DOCX is built, not when a command that may render starts
(``letters list``, a cycle with nothing to deliver).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.alerts.message import Formats, Message
from sunlight.alerts.view import RULE_BASIS, FindingView, LetterView, build_view, letter_view, zh_ordinal
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import LetterRow

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).with_name("templates")
DOCX_TEMPLATE = "letter.docx"
MESSAGE_CACHE = 256  # rendered letters kept for retries, per Renderer

__all__ = ["RULE_BASIS", "FindingView", "LetterView", "Renderer", "build_view", "letter_view",
           "zh_ordinal"]


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


class Renderer:
    """Jinja2 environments over the office's template folder first, then the built-in templates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folders = [TEMPLATES]
        if settings.letters.templates:
            self.folders.insert(0, settings.resolve(settings.letters.templates))
        self._wording: Any = None
        self._messages: OrderedDict[tuple[str, int], Message] = OrderedDict()

    @cached_property
    def _loader(self) -> jinja2.FileSystemLoader:
        import jinja2

        return jinja2.FileSystemLoader([str(f) for f in self.folders], encoding="utf-8")

    @cached_property
    def text_env(self) -> jinja2.Environment:
        """Text and Markdown (and the wording): no escaping."""
        import jinja2

        return jinja2.Environment(loader=self._loader, undefined=jinja2.StrictUndefined,
                                  keep_trailing_newline=True, trim_blocks=True,
                                  lstrip_blocks=True, autoescape=False)

    @cached_property
    def html_env(self) -> jinja2.Environment:
        import jinja2

        return jinja2.Environment(loader=self._loader, undefined=jinja2.StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True, autoescape=True)

    # --- the one wording ---------------------------------------------------------

    @property
    def wording(self) -> Any:
        """The macros of ``wording.j2`` (a Jinja2 template module)."""
        if self._wording is None:
            self._wording = self.text_env.get_template("wording.j2").module
        return self._wording

    def worded(self, view: LetterView) -> LetterView:
        """Fill the view's sentences from ``wording.j2`` (once; every format then shares them)."""
        if view.worded:
            return view
        w = self.wording
        for f in view.findings:
            f.line = str(w.finding_line(f)).strip()
            f.basis_line = str(w.basis_line(f)).strip()
        view.title = str(w.title(view)).strip()
        view.opening = _paragraphs(str(w.opening(view)))
        view.requirements = _paragraphs(str(w.requirements(view))) if not view.is_notice else []
        view.closing = _paragraphs(str(w.closing(view)))
        view.worded = True
        return view

    # --- formats -----------------------------------------------------------------

    def text(self, view: LetterView) -> str:
        return self.text_env.get_template("letter.txt.j2").render(v=self.worded(view))

    def markdown(self, view: LetterView) -> str:
        return self.text_env.get_template("letter.md.j2").render(v=self.worded(view))

    def html(self, view: LetterView) -> str:
        return self.html_env.get_template("letter.html.j2").render(v=self.worded(view))

    def docx_template(self) -> Path:
        """The office's ``letter.docx`` if its folder has one, else the built-in GB/T 9704 one."""
        for folder in self.folders:
            path = folder / DOCX_TEMPLATE
            if path.is_file():
                return path
        raise FileNotFoundError(DOCX_TEMPLATE)

    def docx(self, view: LetterView) -> bytes:
        """The printable letter: ``letter.docx`` with its tags filled (XML-escaped) by docxtpl."""
        from docxtpl import DocxTemplate  # type: ignore[import-untyped]

        doc = DocxTemplate(str(self.docx_template()))
        doc.render({"v": self.worded(view)}, autoescape=True)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()

    def render(self, view: LetterView, fmt: str) -> str | bytes:
        """One format by name: text, markdown, html or docx."""
        renderers: dict[str, Callable[[LetterView], str | bytes]] = {
            "text": self.text, "markdown": self.markdown, "html": self.html, "docx": self.docx}
        return renderers[fmt](view)

    # --- for the channels --------------------------------------------------------

    def message(self, store: Engine, letter_id: int) -> Message:
        """The letter as the channels take it; the outbox fills in the idempotency key.

        A delivered letter never changes (no resolutions, see :func:`letter_view`),
        so retries reuse the rendering instead of building the DOCX again.
        """
        key = (store.url.render_as_string(hide_password=True), letter_id)
        if key not in self._messages:
            self._messages[key] = self._message(store, letter_id)
            while len(self._messages) > MESSAGE_CACHE:
                self._messages.popitem(last=False)
        return self._messages[key]

    def _message(self, store: Engine, letter_id: int) -> Message:
        view = self.worded(letter_view(store, self.settings, letter_id))
        with store.connect() as conn:
            letter = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter_id)).one()
        return Message(
            idempotency_key="", letter_number=view.number, unit_id=letter.unit_id or "",
            # a letter to a person: the unit is the one it is copied to, the person its recipient
            unit_name=(letter.copy_to or view.recipient) if letter.audience == "person" else view.recipient,
            tier=view.tier, tier_label=view.tier_label, title=view.title,
            issued_at=letter.issued_at.astimezone(self.settings.tz),
            formats=Formats(lambda fmt: self.render(view, fmt)),
            person_id=letter.person_id if letter.audience == "person" else None,
        )
