"""Start-up benchmark (issue 11): what a command costs before it does its work.

Every command runs in a child process of its own, round after round (so a
burst of load falls on every command alike); each figure is the median over
the rounds of that child's wall time, CPU (user + system) and peak RSS, all
from ``os.wait4``. ``python -c pass`` is measured in the same rounds, and
every row shows its ratio to it (wall and CPU) and the RSS above it.

On Linux a process's peak RSS starts at that of the process it was forked
from (``exec`` keeps the high-water mark): a command run straight from this
parent (~16 MB) could never show less. So each command is started by a
trampoline, a bare ``python -c`` (what ``python -c pass`` costs) that forks
and execs it and reports its ``os.wait4``; ``run`` is started from here (its
peak is far above). The datasets are built by children too.

The commands: ``import sunlight.monitor.cli``; ``sunlight --help``,
``scan --help``, ``letters --help``; ``config check`` and ``scan`` (table
output) on the demo (built once with ``sunlight demo`` in ``--data-dir``);
``run`` from start until its health endpoint answers (on a copy of the demo,
a free port); with ``--cases N``, the columnar line of ``bench_cases.py``
(``scan --format json`` of the seven case checks over N generated cases on
SQLite, the same dataset and config).

``--venv DIR`` (repeatable) measures the same commands with another
installation too (its ``bin/python`` and ``bin/sunlight``), interleaved in
the same rounds: a before/after comparison on one machine at one load.

    .venv/bin/python bench/bench_startup.py                      # 5 rounds
    .venv/bin/python bench/bench_startup.py --cases 200000       # + the 200k columnar scan
    .venv/bin/python bench/bench_startup.py --venv /tmp/main/.venv --label main --label branch

Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
AT = "2026-11-16T09:00"  # the demo's and bench_cases' as-of time
CASE_CHECKS = ("case_due_soon", "case_overdue", "case_overdue_statutory", "step_overdue",
               "extension_invalid", "refusal_without_reason", "repeated_supplement")


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float


@dataclass
class Row:
    label: str
    samples: dict[str, list[Sample]] = field(default_factory=dict)  # per installation


@dataclass
class Install:
    label: str
    bin: Path

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    @property
    def sunlight(self) -> str:
        return str(self.bin / "sunlight")


#: forks and execs argv[1:] (stdout to /dev/null), prints its wall s, CPU s, peak RSS KB, exit code
TRAMPOLINE = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
      os.waitstatus_to_exitcode(status))
"""


def measure(python: str, cmd: list[str]) -> Sample:
    """Run ``cmd`` to its end (stdout discarded), from a trampoline; its wall, CPU and peak RSS."""
    err = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: a chatty stderr cannot block
    done = subprocess.run([python, "-c", TRAMPOLINE, *cmd], stdout=subprocess.PIPE, stderr=err, text=True,
                          check=True)
    wall, cpu, rss_kb, code = done.stdout.split()
    if int(code) != 0:
        err.seek(0)
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{err.read().decode(errors='replace')[-3000:]}")
    err.close()
    return Sample(float(wall), float(cpu), int(rss_kb) / 1024)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_run(install: Install, config: Path, port: int, timeout: float = 120.0) -> Sample:
    """``sunlight run`` from its start until ``/healthz`` answers, then SIGTERM: to its exit.

    Wall and CPU are to the first answer (the start-up); the peak RSS is the
    whole life of the process, which at that point has started its first cycle.
    """
    err = tempfile.TemporaryFile()  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen([install.sunlight, "run", "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=err)
    url = f"http://127.0.0.1:{port}/healthz"  # asked over a bare socket: urllib would add 7 MB here
    wall = cpu = None
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            err.seek(0)
            raise SystemExit(f"sunlight run exited {proc.returncode}:\n{err.read().decode()[-3000:]}")
        if _answers(port, "/healthz"):
            wall = time.perf_counter() - started
            cpu = _cpu_seconds(proc.pid)
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, _status, usage = os.wait4(proc.pid, 0)
    err.close()
    if wall is None or cpu is None:
        raise SystemExit(f"sunlight run: {url} did not answer within {timeout:.0f} s")
    return Sample(wall, cpu, usage.ru_maxrss / 1024)


def _answers(port: int, path: str) -> bool:
    """Whether ``GET path`` on the port answers 200 (HTTP/1.0 over a socket)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            return s.recv(64).split(b" ")[1:2] == [b"200"]
    except OSError:
        return False


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare_demo(install: Install, data_dir: Path) -> tuple[Path, Path, int]:
    """The demo folder (built once) and a copy of it for ``run`` listening on a free port."""
    demo = data_dir / "startup-demo"
    if not (demo / "sunlight.yaml").exists():
        subprocess.run([install.sunlight, "demo", "--dir", str(demo), "--replace"], check=True,
                       stdout=subprocess.DEVNULL)
    served = data_dir / "startup-run"
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(demo, served, ignore=shutil.ignore_patterns("letters", "*.claims"))
    port = free_port()
    config = served / "sunlight.yaml"
    text = re.sub(r'listen: "[^"]*"', f'listen: "127.0.0.1:{port}"', config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    return demo / "sunlight.yaml", config, port


def prepare_cases(install: Install, n: int, data_dir: Path) -> Path:
    """The SQLite dataset and the columnar config of ``bench_cases.py`` (built in a child)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "import bench_cases as b; from scan_config import scan_config;"
        "d = Path(sys.argv[3]); d.mkdir(parents=True, exist_ok=True);"
        "b.ensure_dataset([b.SQLiteLoader(d / 'cases.sqlite')], int(sys.argv[2]), False);"
        "(d / 'bench-sqlite-columnar.yaml').write_text(scan_config('sqlite:///bench-state.db',"
        " f'sqlite:///{d / \"cases.sqlite\"}', chunk=b.CHUNK, columnar=True,"
        " written_by='bench/bench_startup.py'), encoding='utf-8')"
    )
    subprocess.run([install.python, "-c", code, str(HERE), str(n), str(data_dir)], check=True)
    return data_dir / "bench-sqlite-columnar.yaml"


def _median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # a TextIOWrapper
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="rounds (default 5); the figures are medians")
    ap.add_argument("--cases", type=int, default=0, metavar="N",
                    help="also the columnar scan of bench_cases.py over N cases (SQLite), e.g. 200000")
    ap.add_argument("--venv", type=Path, action="append", default=[],
                    help="another installation to measure in the same rounds (a venv folder)")
    ap.add_argument("--label", action="append", default=[],
                    help="names of the installations: each --venv in order, then this one")
    ap.add_argument("--data-dir", type=Path, default=HERE / ".data",
                    help="where the demo and the cases dataset go (default bench/.data)")
    ap.add_argument("--no-run", action="store_true", help="leave out `sunlight run`")
    args = ap.parse_args(argv)

    installs = [Install(v.name if v.name != ".venv" else str(v.parent.name), v / "bin") for v in args.venv]
    installs.append(Install("this", Path(sys.executable).parent))
    for inst, label in zip(installs, args.label, strict=False):
        inst.label = label
    for inst in installs:
        if not Path(inst.sunlight).exists():
            raise SystemExit(f"no sunlight command in {inst.bin}")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    demo, served, port = prepare_demo(installs[-1], args.data_dir)
    cases = prepare_cases(installs[-1], args.cases, args.data_dir) if args.cases else None

    commands: list[tuple[str, Callable[[Install], list[str]]]] = [
        ("python -c pass", lambda i: [i.python, "-c", "pass"]),
        ("import sunlight.monitor.cli", lambda i: [i.python, "-c", "import sunlight.monitor.cli"]),
        ("sunlight --help", lambda i: [i.sunlight, "--help"]),
        ("sunlight scan --help", lambda i: [i.sunlight, "scan", "--help"]),
        ("sunlight letters --help", lambda i: [i.sunlight, "letters", "--help"]),
        ("sunlight config check (demo)", lambda i: [i.sunlight, "config", "check", "-c", str(demo)]),
        ("sunlight scan (demo)", lambda i: [i.sunlight, "scan", "-c", str(demo), "--at", AT]),
    ]
    if cases is not None:
        checks = [a for c in CASE_CHECKS for a in ("--check", c)]
        commands.append((f"scan {args.cases:,} cases, columnar (bench_cases)",
                         lambda i: [i.sunlight, "scan", "-c", str(cases), "--at", AT, "--format", "json",
                                    *checks]))
    rows = [Row(label) for label, _ in commands]
    run_row = Row("sunlight run, start to /healthz") if not args.no_run else None
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    for r in range(args.runs):
        for row, (_, make) in zip(rows, commands, strict=True):
            for inst in installs:
                row.samples.setdefault(inst.label, []).append(measure(inst.python, make(inst)))
        if run_row is not None:
            for inst in installs:
                run_row.samples.setdefault(inst.label, []).append(measure_run(inst, served, port))
        print(f"round {r + 1}/{args.runs} done (load {os.getloadavg()[0]:.2f})")
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    if run_row is not None:
        rows.append(run_row)

    base = {inst.label: rows[0].samples[inst.label] for inst in installs}
    print(f"\nmedians of {args.runs} rounds; python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"load average before {load_before}, after {load_after}")
    print("| command | install | wall s | CPU s | peak RSS MB | wall / pass | CPU / pass | RSS − pass MB |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        for inst in installs:
            s, b = row.samples[inst.label], base[inst.label]
            wall, cpu, rss = (_median(s, a) for a in ("wall", "cpu", "rss_mb"))
            bw, bc, br = (_median(b, a) for a in ("wall", "cpu", "rss_mb"))
            print(f"| {row.label} | {inst.label} | {wall:.3f} | {cpu:.3f} | {rss:.0f} | {wall / bw:.1f} | "
                  f"{cpu / bc:.1f} | {rss - br:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
