"""The remote STOPs of ``bench/fleet.py``, published from a process of their own.

Reads a treadmill id per line on stdin; for each, notes ``time.monotonic()`` (the same clock in
every process on the host), publishes ``command/stop`` to it (QoS 1, as the monitor does) and
prints the noted time on stdout. Idle between stops, it is not held up by the bench's own work
(starting and reaping sessions, following their states), which a loopback capture showed adding
up to 23 ms between the bench's clock reading and its PUBLISH reaching the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402

from retro_treadmill.telemetry.schema import Topics, command_payload  # noqa: E402


async def publish_stops(port: int, prefix: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    payload = command_payload("bench/fleet.py", "bench")
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-stop-publisher") as client:
        print("ready", flush=True)
        while line := await reader.readline():
            treadmill = line.decode().strip()
            published = time.monotonic()
            await client.publish(Topics(f"{prefix}/{treadmill}").command("stop"), payload, qos=1)
            print(f"{published:.9f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    asyncio.run(publish_stops(args.port, args.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
