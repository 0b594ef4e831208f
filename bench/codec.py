"""Codec benchmark: Treadmill Data (0x2ACD) parse time, ours against pyftms 0.4.15, same run.

Run with ``make bench`` (``.venv/bin/python bench/codec.py``). Prints the median microseconds per
parse of a typical ``84 04`` record (speed, distance, energy, elapsed time; 14 bytes) and of a
full 34-byte record, for :func:`protocols.ftms.parse_treadmill_data` and for pyftms's Treadmill
Data serializer (what its ``DataUpdater`` calls per notification), and the throughput ratio.

pyftms needs Python >= 3.12, so it runs in its own venv (``bench/.venv-pyftms``, created on first
use with ``pip install pyftms==0.4.15``) in a subprocess timing the same bytes. Set
``PYFTMS_PYTHON`` to choose the interpreter. When that cannot be set up the bench says why and
still reports our numbers. Each figure is the median of several repeats.
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
PYFTMS_VENV = HERE / ".venv-pyftms"
PYFTMS_VERSION = "0.4.15"
REPEATS = 9
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

# Runs inside the pyftms venv: argv = number, repeats, hex records; prints JSON.
PYFTMS_TIMER = """
import json, sys, timeit
from pyftms.models import TreadmillData
from pyftms.serializer import get_serializer
serializer = get_serializer(TreadmillData)
number, repeats = int(sys.argv[1]), int(sys.argv[2])
out = {}
for hex_ in sys.argv[3:]:
    data = bytearray.fromhex(hex_)
    decoded = serializer.deserialize(data)
    times = timeit.repeat(lambda: serializer.deserialize(data), number=number, repeat=repeats)
    out[hex_] = {"us": [t / number * 1e6 for t in times], "speed": decoded.speed_instant}
print(json.dumps(out))
"""


def _calibrated_number(func: object, budget_s: float = 0.15) -> int:
    number, elapsed = timeit.Timer(func).autorange()  # type: ignore[arg-type]
    return max(1, int(number * budget_s / max(elapsed, 1e-9)))


def time_ours(data: bytes) -> float:
    """Median microseconds per ``parse_treadmill_data(data)`` over :data:`REPEATS` repeats.

    The bytes are a ``bytearray``, as bleak delivers notifications (pyftms gets the same).
    """
    notification = bytearray(data)

    def run() -> object:
        return parse_treadmill_data(notification)

    number = _calibrated_number(run)
    times = timeit.repeat(run, number=number, repeat=REPEATS)
    return statistics.median(t / number * 1e6 for t in times)


def _find_python312() -> tuple[str | None, str]:
    candidates: list[str] = []
    if env := os.environ.get("PYFTMS_PYTHON"):
        candidates.append(env)
    for name in ("python3.13", "python3.12"):
        if found := shutil.which(name):
            candidates.append(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [
        str(p)
        for p in sorted((pyenv_root / "versions").glob("3.1[2-9]*/bin/python3"), reverse=True)
    ]
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
    print(f"setting up {PYFTMS_VENV.relative_to(HERE.parent)} with {base} ...", flush=True)
    steps = [
        [base, "-m", "venv", "--clear", str(PYFTMS_VENV)],
        [str(python), "-m", "pip", "install", "-q", f"pyftms=={PYFTMS_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            return None, f"{' '.join(step[:4])} failed: {done.stderr.strip()[-300:]}"
    return python, ""


def time_pyftms(python: Path) -> tuple[dict[str, float] | None, str]:
    """Median microseconds per pyftms parse for each record, or None and the reason."""
    number = 4000
    cmd = [str(python), "-c", PYFTMS_TIMER, str(number), str(REPEATS)]
    cmd += [data.hex(" ") for data in RECORDS.values()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return None, f"pyftms timing failed: {done.stderr.strip()[-300:]}"
    raw = json.loads(done.stdout)
    medians: dict[str, float] = {}
    for label, data in RECORDS.items():
        entry = raw[data.hex(" ")]
        ours = parse_treadmill_data(data)
        if entry["speed"] != ours.speed_kmh:  # same bytes must mean the same thing to both
            return None, f"pyftms read {label} differently: speed {entry['speed']}"
        medians[label] = statistics.median(entry["us"])
    return medians, ""


def main() -> int:
    """Run the benchmark and print the table; exit 1 when a ratio misses the target."""
    print(f"Treadmill Data parse, median of {REPEATS} repeats, microseconds per parse")
    print(f"ours: protocols.ftms.parse_treadmill_data on Python {sys.version.split()[0]}")
    ours = {label: time_ours(data) for label, data in RECORDS.items()}
    python, why = ensure_pyftms()
    theirs: dict[str, float] | None = None
    if python is not None:
        theirs, why = time_pyftms(python)
        version = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if theirs is not None:
            print(f"pyftms {PYFTMS_VERSION}: serializer.deserialize on Python {version}")
    if theirs is None:
        print(f"pyftms {PYFTMS_VERSION}: NOT MEASURED - {why}")
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
