"""Channel config: the registry, validation messages, ${VAR} secrets, and the folder channel."""
# ruff: noqa: F811 (pytest fixtures imported from tests.receivers)

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import docx
import pytest

from sunlight.alerts.channels import (
    ChannelConfigError,
    ChannelError,
    build_channel,
    channel_types,
    validate_channels,
)
from sunlight.monitor.configure import ConfigError, load_settings
from tests.receivers import HttpReceiver, http_receiver, sample_docx, sample_message  # noqa: F401

SECRET = "tok-5e3d587e-d78e-4a07"

EMAIL = {"type": "email", "smtp": "smtps://mail.example.gov.cn", "from": "jw@example.gov.cn",
         "to": ["office@example.gov.cn"]}


def test_every_channel_type_is_registered() -> None:
    assert channel_types() == ("dingtalk", "email", "feishu", "folder", "webhook", "wecom")


@pytest.mark.parametrize(("entry", "key", "problem"), [
    ({"type": "pager"}, "type", "unknown channel type 'pager'; known: dingtalk, email, feishu, folder"),
    ({"path": "/x"}, "type", "missing; one of: dingtalk"),
    ({**EMAIL, "smtp_host": "x"}, "smtp_host", "Extra inputs are not permitted"),
    ({**EMAIL, "smtp": "imap://mail.example.gov.cn"}, "smtp", "must be smtps://host[:port]"),
    ({**EMAIL, "smtp": "smtps://jw:pw@mail.example.gov.cn"}, "smtp", "must not hold credentials"),
    ({**EMAIL, "starttls": True}, "starttls", "smtps:// is already TLS"),
    ({**EMAIL, "smtp": "smtp://mail.example.gov.cn", "user": "jw", "password": "pw"}, "password",
     "would be sent unencrypted"),
    ({**EMAIL, "user": "jw"}, "password", "give 'user' and 'password' together"),
    ({**EMAIL, "user": "jw", "password": "密码"}, "password", "user and password must be ASCII"),
    ({**EMAIL, "to": []}, "to", "give at least one address"),
    ({**EMAIL, "unit_to": {"U-MZJ": ["liu at mzj"]}}, "unit_to.U-MZJ[0]",
     "'liu at mzj' is not an email address"),
    ({k: v for k, v in EMAIL.items() if k != "from"}, "from", "Field required"),
    ({**EMAIL, "to": ["刘 <liu@纪委.中国>"]}, "to[0]",
     "'刘 <liu@纪委.中国>': write the address part in ASCII"),
    ({"type": "webhook", "url": "ftp://example.gov.cn/"}, "url", "must be an http:// or https:// URL"),
    ({"type": "webhook", "url": "https://oa.example.gov.cn/", "headers": {"X-单位": "1"}}, "headers",
     "'X-单位' is not a valid HTTP header name"),
    ({"type": "webhook", "url": "https://oa.example.gov.cn/", "headers": {"X-Unit": "民政局"}}, "headers",
     "the value of 'X-Unit' must be printable ASCII"),
    ({"type": "webhook", "url": "https://oa.example.gov.cn/", "timeout": 0}, "timeout",
     "Input should be greater than 0"),
    ({"type": "wecom"}, "webhook", "Field required"),
    ({"type": "wecom", "webhook": "https://qyapi.weixin.qq.com/x", "secret": "s"}, "secret",
     "Extra inputs are not permitted"),
    ({"type": "dingtalk", "webhook": "not a url"}, "webhook", "must be an http:// or https:// URL"),
    ({"type": "folder"}, "path", "Field required"),
])
def test_validate_channels_names_the_key(entry: dict[str, Any], key: str, problem: str) -> None:
    [(where, what)] = list(validate_channels({"ch": entry}))
    assert where == f"channels.ch.{key}"
    assert what.startswith(problem)
    with pytest.raises(ChannelConfigError):
        build_channel("ch", entry)


def test_validation_never_echoes_a_secret() -> None:
    bad = {
        "a": {"type": "webhook", "url": f"ftp://oa.example.gov.cn/?token={SECRET}"},
        "b": {"type": "dingtalk", "webhook": f"dingtalk:{SECRET}"},
        "c": {"type": "feishu", "webhook": "https://open.feishu.cn/hook/x", "secret": 12345},
    }
    problems = list(validate_channels(bad))
    assert [k for k, _ in problems] == ["channels.a.url", "channels.b.webhook", "channels.c.secret"]
    assert SECRET not in repr(problems)


def test_a_non_mapping_entry_is_reported() -> None:
    assert list(validate_channels({"x": "wecom"})) == [("channels.x", "must be a mapping with a 'type'")]


def test_valid_entries_report_nothing() -> None:
    assert list(validate_channels({
        "mail": {**EMAIL, "unit_to": {"U-MZJ": ["刘联络 <liu@mzj.example.gov.cn>"]}},
        "relay": {"type": "email", "smtp": "smtp://127.0.0.1", "from": "jw@example.gov.cn", "to": ["a@b.cn"]},
        "oa": {"type": "webhook", "url": "https://oa.example.gov.cn/hook", "secret": "x",
               "headers": {"Authorization": "Bearer y"}},
        "im": {"type": "wecom", "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
        "ding": {"type": "dingtalk", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=t",
                 "secret": "SECx"},
        "fs": {"type": "feishu", "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/t"},
        "files": {"type": "folder", "path": "letters"},
    })) == []


# ---------------------------------------------------------------- through the config file


def _config(write_config, tmp_path: Path, channels_yaml: str) -> Path:
    return write_config(f"sqlite:///{tmp_path / 'source.db'}", channels_yaml)


def test_secrets_come_from_the_environment(write_config, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    path = _config(write_config, tmp_path, (
        "channels:\n"
        "  im:\n"
        "    type: dingtalk\n"
        '    webhook: "${DING_HOOK}"\n'
        '    secret: "${DING_SECRET}"\n'
    ))
    env = {"DING_HOOK": f"{http_receiver.url}/robot/send?access_token={SECRET}", "DING_SECRET": "SEC-env-1"}
    settings = load_settings(path, env=env)
    channel = build_channel("im", settings.channels["im"], settings.base_dir)
    assert SECRET not in repr(channel.settings) and "SEC-env-1" not in repr(channel.settings)
    channel.send(sample_message())
    assert http_receiver.requests[0].query["access_token"] == [SECRET]


def test_missing_variable_is_a_config_error(write_config, tmp_path: Path) -> None:
    channels = 'channels:\n  im:\n    type: wecom\n    webhook: "${WECOM_HOOK}"\n'
    path = _config(write_config, tmp_path, channels)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.key == "channels.im.webhook"
    assert "WECOM_HOOK" in caught.value.problem


def test_bad_channel_is_a_config_error_naming_file_and_key(write_config, tmp_path: Path) -> None:
    path = _config(write_config, tmp_path, (
        "channels:\n"
        "  mail:\n"
        "    type: email\n"
        "    smtp: smtps://mail.example.gov.cn\n"
        "    from: jw@example.gov.cn\n"
        "    to: [office]\n"
        "routes:\n"
        "  - to: [mail]\n"
    ))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.file == str(path)
    assert caught.value.key == "channels.mail.to[0]"
    assert caught.value.problem == "'office' is not an email address"


# ---------------------------------------------------------------- folder


def test_folder_writes_html_text_and_docx(tmp_path: Path) -> None:
    channel = build_channel("files", {"type": "folder", "path": str(tmp_path / "out")})
    message = sample_message()
    channel.send(message)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "监预〔2026〕17号.docx", "监预〔2026〕17号.html", "监预〔2026〕17号.txt",
    ]
    assert (out / "监预〔2026〕17号.html").read_text(encoding="utf-8") == message.html
    assert (out / "监预〔2026〕17号.txt").read_text(encoding="utf-8") == message.text
    assert (out / "监预〔2026〕17号.docx").read_bytes() == sample_docx()
    document = docx.Document(io.BytesIO((out / "监预〔2026〕17号.docx").read_bytes()))
    assert "县民政局：" in [p.text for p in document.paragraphs]


def test_folder_relative_path_is_relative_to_the_config_folder(tmp_path: Path, monkeypatch) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    build_channel("files", {"type": "folder", "path": "letters"}, config_dir).send(sample_message())
    assert (config_dir / "letters" / "监预〔2026〕17号.html").exists()
    assert not (tmp_path / "letters").exists()


def test_folder_rewrite_is_idempotent_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    channel = build_channel("files", {"type": "folder", "path": str(tmp_path)})
    channel.send(sample_message())
    channel.send(sample_message())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "监预〔2026〕17号.docx", "监预〔2026〕17号.html", "监预〔2026〕17号.txt",
    ]


def test_folder_file_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        build_channel("files", {"type": "folder", "path": str(tmp_path)}).send(sample_message(docx=None))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "监预〔2026〕17号.html").stat().st_mode) == 0o644
    assert not (tmp_path / "监预〔2026〕17号.docx").exists()


def test_folder_number_with_slash_stays_inside_the_folder(tmp_path: Path) -> None:
    build_channel("files", {"type": "folder", "path": str(tmp_path / "out")}).send(
        sample_message(letter_number="../监预/2026/17号")
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[0] == "_监预_2026_17号.docx"


def test_folder_path_that_is_a_file_is_not_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "letters"
    blocker.write_text("not a folder")
    with pytest.raises(ChannelError) as caught:
        build_channel("files", {"type": "folder", "path": str(blocker / "sub")}).send(sample_message())
    assert caught.value.retryable is False
    assert str(blocker) in str(caught.value)
