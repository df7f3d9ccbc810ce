"""Folder channel: the rendered letter as files, for printing and stamping (用印).

Writes ``<number>.html`` and ``<number>.docx`` (and ``.txt``) into a folder.
Writing is idempotent: the same letter written twice leaves the same files,
and each file appears atomically (written beside, then renamed).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from alerts.channels.base import ChannelError, ChannelSettings, Message, channel_type


class FolderSettings(ChannelSettings):
    path: Path


def safe_filename(number: str) -> str:
    """监预〔2026〕17号 → 监预〔2026〕17号 (only path separators and control chars replaced)."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", number)


class FolderChannel:
    def __init__(self, name: str, settings: FolderSettings, config_dir: Path) -> None:
        self.name = name
        self.path = settings.path if settings.path.is_absolute() else config_dir / settings.path

    def _write(self, target: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def send(self, message: Message) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            stem = safe_filename(message.letter_number)
            self._write(self.path / f"{stem}.html", message.html.encode("utf-8"))
            self._write(self.path / f"{stem}.txt", message.text.encode("utf-8"))
            if message.docx is not None:
                self._write(self.path / f"{stem}.docx", message.docx)
        except OSError as exc:
            raise ChannelError(f"cannot write to {self.path}: {exc.strerror}") from exc


@channel_type("folder", FolderSettings)
def build(name: str, settings: FolderSettings, config_dir: Path) -> FolderChannel:
    return FolderChannel(name, settings, config_dir)
