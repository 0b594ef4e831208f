"""A publisher in its own process (for the last-will test): ``python -m
tests.telemetry.publisher_process URL TREADMILL_ID``. Prints ``connected`` once online, then
publishes telemetry until killed."""

from __future__ import annotations

import asyncio
import sys

from retro_treadmill.telemetry.mqtt import MqttPublisher
from retro_treadmill.telemetry.schema import TelemetrySample
from retro_treadmill.telemetry.settings import MqttSettings


async def main(url: str, treadmill_id: str) -> None:
    settings = MqttSettings.from_url(url, treadmill_id=treadmill_id, discovery=False)
    async with MqttPublisher(settings) as publisher:
        await publisher.wait_connected()
        print("connected", flush=True)
        distance = 0.0
        while True:
            distance += 0.3
            publisher.publish_telemetry(TelemetrySample(speed_kmh=2.0, distance_m=distance))
            await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
