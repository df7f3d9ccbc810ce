"""The console as an ASGI app (Starlette + Jinja2, rendered on the server): its routes.

The guard every page passes is :meth:`sunlight.monitor.webconsole.context.Console.page`;
the handlers are in :mod:`~sunlight.monitor.webconsole.pages` and
:mod:`~sunlight.monitor.webconsole.pages_letters`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sunlight.monitor.webconsole.accounts import prepare_logins
from sunlight.monitor.webconsole.context import Console, Runtime
from sunlight.monitor.webconsole.pages import (
    accounts_page,
    assessment_export,
    assessment_page,
    finding_page,
    findings_export,
    findings_page,
    overview_page,
    report_download,
    reports_page,
    settings_page,
    unit_page,
    units_export,
    units_page,
)
from sunlight.monitor.webconsole.pages_letters import (
    letter_act,
    letter_download,
    letter_page,
    letter_report_download,
    letter_statement,
    letters_export,
    letters_page,
)
from sunlight.monitor.webconsole.security import SecurityHeaders
from sunlight.monitor.webconsole.units import UnitDirectory

STATIC = Path(__file__).with_name("static")


def make_console(runtime: Runtime, units: UnitDirectory | None = None) -> Starlette:
    """The console app; mount it at ``/`` beside the operator endpoints."""
    c = Console(runtime, units)
    prepare_logins()  # an unknown name costs a hash from the first login on

    async def root(request: Request) -> Response:
        return RedirectResponse("/overview", status_code=303)

    routes = [
        Route("/", root),
        Route("/login", c.login, methods=["GET", "POST"]),
        Route("/logout", c.page(c.logout), methods=["POST"]),
        Route("/overview", c.page(overview_page)),
        Route("/findings", c.page(findings_page)),
        Route("/findings/export.{fmt}", c.page(findings_export)),
        Route("/findings/{id:int}", c.page(finding_page)),
        Route("/letters", c.page(letters_page)),
        Route("/letters/export.{fmt}", c.page(letters_export)),
        Route("/letters/{id:int}", c.page(letter_page)),
        Route("/letters/{id:int}/download.{fmt}", c.page(letter_download)),
        Route("/letters/{id:int}/act/{action}", c.page(letter_act, need="unit_act"), methods=["POST"]),
        Route("/letters/{id:int}/statement", c.page(letter_statement, need="unit_act"), methods=["POST"]),
        Route("/letters/{id:int}/reports/{report:int}", c.page(letter_report_download)),
        Route("/units", c.page(units_page)),
        Route("/units/export.{fmt}", c.page(units_export)),
        Route("/units/{unit}", c.page(unit_page)),
        Route("/assessment", c.page(assessment_page)),
        Route("/assessment/export.{fmt}", c.page(assessment_export)),
        Route("/reports", c.page(reports_page)),
        Route("/reports/download.{fmt}", c.page(report_download)),
        Route("/accounts", c.page(accounts_page, need="accounts")),
        Route("/settings", c.page(settings_page, need="accounts")),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return c.render("error.html.j2", None, 404, message="没有这个页面。")

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.add_middleware(SecurityHeaders)
    return app

