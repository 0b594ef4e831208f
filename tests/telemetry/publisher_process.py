"""A publisher in its own process: ``python -m tests.telemetry.publisher_process URL ID``.

Stands in for a treadmill host in the last-will and monitor tests: prints ``connected`` once
online, publishes state and telemetry (2 Hz), and on a remote stop prints ``stop <sender>`` and
publishes state ``stopping`` with speed 0. Runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from retro_treadmill.telemetry.mqtt import MqttPublisher
from retro_treadmill.telemetry.schema import RemoteCommand, StateUpdate, TelemetrySample
from retro_treadmill.telemetry.settings import MqttSettings


async def main(url: str, treadmill_id: str) -> None:
    settings = MqttSettings.from_url(url, treadmill_id=treadmill_id, discovery=False)
    speed = [2.0]
    publisher: MqttPublisher

    def on_command(command: RemoteCommand) -> None:
        speed[0] = 0.0
        publisher.publish_state(StateUpdate(state="stopping", profile="test"))
        print(f"{command.kind} {command.sender}", flush=True)

    publisher = MqttPublisher(settings, on_command=on_command)
    async with publisher:
        await publisher.wait_connected()
        publisher.publish_state(StateUpdate(state="running", profile="test"))
        print("connected", flush=True)
        distance = 0.0
        while True:
            distance += speed[0] / 3.6 * 0.5
            publisher.publish_telemetry(
                TelemetrySample(speed_kmh=speed[0], distance_m=distance, heart_rate_bpm=88)
            )
            await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
