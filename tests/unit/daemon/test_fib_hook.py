"""The kernel route programmer plugged into the daemon: opened from ``fib:``, run beside the speaker,
local blocks re-applied on reload, table and protocol changes refused, the task stopped with it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rackroute.daemon.config_file import parse_config
from rackroute.daemon.fib_hook import KernelRoutedSpeaker, open_kernel_routes
from rackroute.net.prefix import Prefix
from rackroute.speaker.config import ConfigError, SpeakerConfig

BASE = "router_id: 10.1.0.11\nlocal_as: 65101\n"


def config(fib: str) -> SpeakerConfig:
    return parse_config(BASE + f"fib: {fib}\n")


class FakeFib:
    def __init__(self) -> None:
        self.blocks: list[list[Prefix]] = []
        self.running = False
        self.closed = False

    def set_local_blocks(self, blocks: Any) -> None:
        self.blocks.append(list(blocks))

    async def run(self) -> None:
        self.running = True
        await asyncio.Event().wait()

    def close(self) -> None:
        self.closed = True


class FakeSpeaker:
    def __init__(self) -> None:
        self.reloads: list[SpeakerConfig] = []
        self.stopped = False

    async def reload(self, new: SpeakerConfig) -> list[str]:
        self.reloads.append(new)
        return []

    async def stop(self) -> None:
        self.stopped = True


def test_disabled_fib_gives_no_route_sink() -> None:
    assert open_kernel_routes(config("{enabled: false}").fib, restarting=False) is None


def test_local_blocks_must_be_networks() -> None:
    with pytest.raises(ConfigError, match=r"fib.local_blocks: 10.244.0.1/26 has host bits set"):
        config("{local_blocks: [10.244.0.1/26]}")


def test_reload_applies_local_blocks_and_refuses_a_new_table() -> None:
    async def main() -> None:
        fib, speaker = FakeFib(), FakeSpeaker()
        running = KernelRoutedSpeaker(speaker, fib, config("{local_blocks: [10.244.0.0/26]}").fib)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        assert fib.running
        changes = await running.reload(config("{local_blocks: [10.244.0.64/26]}"))
        assert fib.blocks == [[Prefix.parse("10.244.0.64/26")]]
        assert changes == ["kernel local blocks: 10.244.0.64/26"]
        with pytest.raises(ValueError, match=r"fib\.table changes only with a restart"):
            await running.reload(config("{table: 100, local_blocks: [10.244.0.64/26]}"))
        assert len(speaker.reloads) == 1  # the refused reload reached nothing
        await running.stop()
        assert speaker.stopped and fib.closed

    asyncio.run(main())
