"""Folder channel: the rendered letter as files, for printing and stamping (用印).

Writes ``<number>.html``, ``<number>.txt`` and ``<number>.docx`` into a folder
(relative paths are relative to the config file's folder). Writing is
idempotent: the same letter written twice leaves the same files. Each file
appears atomically and durably: written to a temporary name beside it,
fsynced, renamed over the target, and the folder fsynced, so after a crash a
letter the outbox counts as delivered is on disk whole, and a reader never
sees half a file.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path

from sunlight.alerts.channels.base import ChannelError, ChannelSettings, Message, channel_type

# Retrying cannot fix these; someone has to fix the folder or its permissions.
_PERMANENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


class FolderSettings(ChannelSettings):
    path: Path


def safe_filename(number: str) -> str:
    """监预〔2026〕17号 stays as is; path separators, reserved and control characters become ``_``."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", number).strip(" .")
    return name or "_"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(target: Path, data: bytes) -> None:
    """Write beside, fsync, rename over ``target``. The file mode follows the umask, like any new file."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FolderChannel:
    def __init__(self, name: str, settings: FolderSettings, config_dir: Path) -> None:
        self.name = name
        self.path = settings.path if settings.path.is_absolute() else config_dir / settings.path

    def files(self, message: Message) -> dict[Path, bytes]:
        stem = safe_filename(message.letter_number)
        out = {
            self.path / f"{stem}.txt": message.text.encode("utf-8"),
            self.path / f"{stem}.html": message.html.encode("utf-8"),
        }
        if message.docx is not None:
            out[self.path / f"{stem}.docx"] = message.docx
        return out

    def send(self, message: Message) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for target, data in self.files(message).items():
                write_atomically(target, data)
            _fsync_dir(self.path)
        except OSError as exc:
            raise ChannelError(
                f"cannot write to {self.path}: {exc.strerror or exc}",
                retryable=exc.errno not in _PERMANENT_ERRNOS,
            ) from exc


@channel_type("folder", FolderSettings)
def build(name: str, settings: FolderSettings, config_dir: Path) -> FolderChannel:
    return FolderChannel(name, settings, config_dir)
