"""``sunlight users add|passwd|disable|enable|list``: the console's accounts from the command line.

The first admin is created here. A password is never an argument (it would
land in the shell history): it is asked for twice without echo, or read as
one line from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sunlight.monitor.cli_common import ConfigOpt, fail, load_or_exit, open_state, store_failures
from sunlight.monitor.console import table
from sunlight.monitor.store.console_models import ROLES
from sunlight.monitor.webconsole.accounts import (
    ROLE_ZH,
    AccountError,
    add_user,
    list_users,
    set_disabled,
    set_password,
)

users_app = typer.Typer(help="Console accounts: add, passwd, disable, enable, list.", no_args_is_help=True)


class Role(StrEnum):
    """The roles of :data:`ROLES` as a choice: Typer refuses another value (exit 2) and lists them."""

    admin = "admin"
    staff = "staff"
    leader = "leader"
    liaison = "liaison"


assert tuple(Role) == ROLES, "Role must list console_models.ROLES"

UserArg = Annotated[str, typer.Argument(help="the login name")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin",
                                        help="read the password as one line from standard input")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(typer.prompt("密码 password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    config: ConfigOpt, username: UserArg,
    role: Annotated[Role, typer.Option(help="the account's role")],
    name: Annotated[str, typer.Option("--name", help="the person's name as the console shows it")] = "",
    unit: Annotated[str | None, typer.Option(help="a liaison's unit id")] = None,
    password_stdin: StdinOpt = False,
) -> None:
    """Add an account (the first admin too)."""
    settings = load_or_exit(config)
    store = open_state(settings)
    try:
        with store_failures(settings):
            user = add_user(store, username, name, role.value, _password(password_stdin), unit)
    except AccountError as exc:
        raise fail(f"不能添加账户：{exc}", 1) from None
    typer.echo(f"已添加账户 {user.username}（{ROLE_ZH[user.role]}"
               f"{'，单位 ' + user.unit_id if user.unit_id else ''}）")


@users_app.command("passwd")
def users_passwd(config: ConfigOpt, username: UserArg, password_stdin: StdinOpt = False) -> None:
    """Set a new password; it unlocks the account and logs out its sessions."""
    settings = load_or_exit(config)
    store = open_state(settings)
    try:
        with store_failures(settings):
            set_password(store, username, _password(password_stdin))
    except AccountError as exc:
        raise fail(f"不能修改密码：{exc}", 1) from None
    typer.echo(f"已修改 {username} 的密码")


def _set_disabled(config: Path, username: str, disabled: bool) -> None:
    verb = "停用" if disabled else "启用"
    settings = load_or_exit(config)
    store = open_state(settings)
    try:
        with store_failures(settings):
            set_disabled(store, username, disabled)
    except AccountError as exc:
        raise fail(f"不能{verb}：{exc}", 1) from None
    typer.echo(f"已{verb} {username}")


@users_app.command("disable")
def users_disable(config: ConfigOpt, username: UserArg) -> None:
    """Disable an account and end its sessions (the account and its audit trail stay)."""
    _set_disabled(config, username, True)


@users_app.command("enable")
def users_enable(config: ConfigOpt, username: UserArg) -> None:
    """Enable a disabled account again."""
    _set_disabled(config, username, False)


@users_app.command("list")
def users_list(config: ConfigOpt) -> None:
    """The accounts, their roles and state."""
    settings = load_or_exit(config)
    store = open_state(settings, read_only=True)
    with store_failures(settings):
        rows = list_users(store)
    now = dt.datetime.now(dt.UTC)
    typer.echo(table(["用户名", "姓名", "角色", "单位", "状态", "最近登录"], [
        [u.username, u.display_name, ROLE_ZH.get(u.role, u.role), u.unit_id or "",
         "停用" if u.disabled else ("锁定" if u.locked_until and u.locked_until > now else "正常"),
         f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else ""] for u in rows]))
    typer.echo(f"\n共 {len(rows)} 个账户。")
