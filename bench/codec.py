"""Codec benchmark: Treadmill Data (0x2ACD) parse time, ours against pyftms 0.4.15, same run.

Run with ``make bench`` (``.venv/bin/python bench/codec.py``). Prints the median microseconds per
parse of a typical ``84 04`` record (speed, distance, energy, elapsed time; 14 bytes) and of a
full 34-byte record, for :func:`protocols.ftms.parse_treadmill_data` and for pyftms's Treadmill
Data serializer (what its ``DataUpdater`` calls per notification), and the throughput ratio.
Rounds of ours and pyftms alternate so that the load of a shared machine hits both alike.

pyftms needs Python >= 3.12, so it runs in its own venv (``bench/.venv-pyftms``, created on first
use with ``pip install pyftms==0.4.15``), a worker subprocess timing the same bytes. Set
``PYFTMS_PYTHON`` to choose the interpreter and ``PYFTMS_VENV`` to put the venv elsewhere. When
that cannot be set up, the bench says why and still reports our numbers. Each figure is the
median of several repeats.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

from protocols.ftms import TreadmillData, build_treadmill_data, parse_treadmill_data

HERE = Path(__file__).resolve().parent
PYFTMS_VENV = Path(os.environ.get("PYFTMS_VENV", HERE / ".venv-pyftms"))
PYFTMS_VERSION = "0.4.15"
REPEATS = 9
OURS_NUMBER = 20_000  # parses per record and round: about 0.1 s
PYFTMS_NUMBER = 2_000
TARGET_RATIO = 3.0

TYPICAL = bytes.fromhex("84 04 64 00 14 00 00 02 00 ff ff ff 3f 00")
FULL = build_treadmill_data(
    TreadmillData(
        speed_kmh=2.41,
        average_speed_kmh=2.0,
        total_distance_m=1234,
        inclination_pct=2.5,
        ramp_angle_deg=1.4,
        positive_elevation_gain_m=12.3,
        negative_elevation_gain_m=4.5,
        instantaneous_pace_kmpmin=0.1,
        average_pace_kmpmin=0.2,
        total_energy_kcal=150,
        energy_per_hour_kcal=300,
        energy_per_minute_kcal=5,
        heart_rate_bpm=110,
        metabolic_equivalent=3.3,
        elapsed_time_s=1800,
        remaining_time_s=600,
        force_on_belt_n=20,
        power_output_w=75,
    )
)
RECORDS = {"typical 84 04 (14 B)": TYPICAL, "full (34 B)": FULL}

# Runs inside the pyftms venv as a worker: argv = hex records. It first answers the speeds it
# reads (a sanity check); then for every line "N" on stdin it times N parses of each record and
# answers one JSON line of microseconds per parse.
PYFTMS_WORKER = """
import json, sys, timeit
from pyftms.models import TreadmillData
from pyftms.serializer import get_serializer
serializer = get_serializer(TreadmillData)
records = [bytearray.fromhex(h) for h in sys.argv[1:]]
print(json.dumps([serializer.deserialize(r).speed_instant for r in records]), flush=True)
for line in sys.stdin:
    number = int(line)
    out = []
    for data in records:
        t = timeit.timeit(lambda: serializer.deserialize(data), number=number)
        out.append(t / number * 1e6)
    print(json.dumps(out), flush=True)
"""


class PyftmsWorker:
    """pyftms timing in its own interpreter, driven round by round from this process."""

    def __init__(self, python: Path) -> None:
        cmd = [str(python), "-c", PYFTMS_WORKER, *(d.hex(" ") for d in RECORDS.values())]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.speeds: list[float | None] = json.loads(self._readline())

    def _readline(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            assert self._proc.stderr is not None
            raise RuntimeError(f"pyftms worker failed: {self._proc.stderr.read().strip()[-300:]}")
        return line

    def time_round(self, number: int) -> list[float]:
        """Microseconds per parse of each record, ``number`` parses each."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{number}\n")
        self._proc.stdin.flush()
        result: list[float] = json.loads(self._readline())
        return result

    def close(self) -> None:
        """Stop the worker."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


def _time_ours(data: bytes, number: int) -> float:
    notification = bytearray(data)  # as bleak delivers it; pyftms gets the same

    def run() -> object:
        return parse_treadmill_data(notification)

    return timeit.timeit(run, number=number) / number * 1e6


def _ours_round(number: int) -> list[float]:
    return [_time_ours(data, number) for data in RECORDS.values()]


def _find_python312() -> tuple[str | None, str]:
    candidates: list[str] = []
    if env := os.environ.get("PYFTMS_PYTHON"):
        candidates.append(env)
    for name in ("python3.12", "python3.13"):
        if found := shutil.which(name):
            candidates.append(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted((pyenv_root / "versions").glob("3.1[2-9]*/bin/python3"))]
    for candidate in candidates:
        try:
            ok = subprocess.run(
                [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok.returncode == 0:
            return candidate, ""
    return None, "no Python >= 3.12 found (set PYFTMS_PYTHON=/path/to/python3.12)"


def ensure_pyftms() -> tuple[Path | None, str]:
    """The pyftms venv's python, creating the venv if needed; or None and the reason."""
    python = PYFTMS_VENV / "bin" / "python"
    check = [str(python), "-c", f"import pyftms, importlib.metadata as m; "
             f"assert m.version('pyftms') == '{PYFTMS_VERSION}'"]  # fmt: skip
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python, ""
    base, why = _find_python312()
    if base is None:
        return None, why
    print(f"setting up {PYFTMS_VENV} with {base} ...", flush=True)
    steps = [
        [base, "-m", "venv", "--clear", str(PYFTMS_VENV)],
        [str(python), "-m", "pip", "install", "-q", f"pyftms=={PYFTMS_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            return None, f"{' '.join(step[:4])} failed: {done.stderr.strip()[-300:]}"
    return python, ""


def measure(worker: PyftmsWorker | None) -> tuple[dict[str, float], dict[str, float] | None]:
    """Median microseconds per parse, ours and pyftms's, from interleaved rounds.

    Each round times ours and pyftms (in alternating order) on the same records right after each
    other, so a change in machine load hits both sides of a ratio alike.
    """
    ours: list[list[float]] = []
    theirs: list[list[float]] = []
    for round_ in range(REPEATS):
        if worker is not None and round_ % 2:
            theirs.append(worker.time_round(PYFTMS_NUMBER))
        ours.append(_ours_round(OURS_NUMBER))
        if worker is not None and not round_ % 2:
            theirs.append(worker.time_round(PYFTMS_NUMBER))
    labels = list(RECORDS)
    ours_median = {label: statistics.median(r[i] for r in ours) for i, label in enumerate(labels)}
    if worker is None:
        return ours_median, None
    theirs_median = {
        label: statistics.median(r[i] for r in theirs) for i, label in enumerate(labels)
    }
    return ours_median, theirs_median


def _start_worker(python: Path) -> tuple[PyftmsWorker | None, str]:
    try:
        worker = PyftmsWorker(python)
    except (OSError, RuntimeError, ValueError) as exc:
        return None, str(exc)
    for label, speed in zip(RECORDS, worker.speeds, strict=True):
        if speed != parse_treadmill_data(RECORDS[label]).speed_kmh:
            worker.close()  # the same bytes must mean the same thing to both
            return None, f"pyftms read {label} differently (speed {speed})"
    return worker, ""


def main() -> int:
    """Run the benchmark and print the table; exit 1 when a ratio misses the target."""
    print(f"Treadmill Data parse, median of {REPEATS} interleaved rounds, microseconds per parse")
    print(f"ours: protocols.ftms.parse_treadmill_data on Python {sys.version.split()[0]}")
    python, why = ensure_pyftms()
    worker: PyftmsWorker | None = None
    if python is not None:
        worker, why = _start_worker(python)
    if python is not None and worker is not None:
        version = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        print(f"pyftms {PYFTMS_VERSION}: serializer.deserialize on Python {version}")
    else:
        print(f"pyftms {PYFTMS_VERSION}: NOT MEASURED - {why}")
    try:
        ours, theirs = measure(worker)
    finally:
        if worker is not None:
            worker.close()
    print()
    print(f"{'record':<22} {'ours us':>9} {'pyftms us':>10} {'speed-up':>9}")
    missed = False
    for label in RECORDS:
        if theirs is None:
            print(f"{label:<22} {ours[label]:>9.2f} {'-':>10} {'-':>9}")
            continue
        ratio = theirs[label] / ours[label]
        missed |= ratio < TARGET_RATIO
        print(f"{label:<22} {ours[label]:>9.2f} {theirs[label]:>10.2f} {ratio:>8.1f}x")
    if theirs is not None:
        verdict = "MISSED" if missed else "met"
        print(f"\ntarget: >= {TARGET_RATIO:.0f}x pyftms's parse throughput: {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
