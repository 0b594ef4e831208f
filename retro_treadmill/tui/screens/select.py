"""Choosing a treadmill and a profile, then connecting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option

from retro_treadmill.tui.format import duration, incline_number, speed_number
from retro_treadmill.tui.keys import both_cases
from retro_treadmill.tui.model import DeviceInfo, DeviceScanner, ProfileInfo
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.units import SpeedUnit, unit_label


def device_label(device: DeviceInfo) -> str:
    """One line per device: name, address and signal strength."""
    if device.virtual:
        return f"{device.name}  (built-in simulator)"
    rssi = "" if device.rssi_dbm is None else f"  {device.rssi_dbm} dBm"
    if device.kind == "heart-rate":
        return f"♥ {device.name}  {device.address}{rssi}  (heart-rate strap)"
    return f"{device.name}  {device.address}{rssi}"


class DeviceScreen(RetroScreen):
    """The treadmills to choose from: fixed entries (the virtual treadmill) plus scan results."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding(both_cases("r"), "rescan", "Scan again")]

    class Chosen(Message):
        """The operator chose ``device``."""

        def __init__(self, device: DeviceInfo) -> None:
            super().__init__()
            self.device = device

    class StrapChosen(Message):
        """The operator chose ``device``, a heart-rate strap, to go with the treadmill."""

        def __init__(self, device: DeviceInfo) -> None:
            super().__init__()
            self.device = device

    def __init__(
        self,
        devices: Sequence[DeviceInfo],
        scanner: DeviceScanner | None,
        error: str = "",
    ) -> None:
        super().__init__()
        self._fixed = list(devices)
        self._found: list[DeviceInfo] = []
        self._scanner = scanner
        self._error = error
        self.strap: DeviceInfo | None = None
        """The heart-rate strap chosen on this screen, if any."""

    def compose_body(self) -> Iterable[Widget]:
        """Title, the device list, the scan status and the keys."""
        yield Static("Choose a treadmill", classes="title")
        yield OptionList(id="devices")
        yield Static(self._error, id="scan-status", markup=False)
        yield Static("↑/↓ choose · Enter select · R scan again", classes="keys")

    def on_mount(self) -> None:
        """List the fixed entries and start a scan."""
        super().on_mount()
        self._refill()
        self.query_one(OptionList).focus()
        if self._scanner is not None:
            self.action_rescan()

    @property
    def devices(self) -> list[DeviceInfo]:
        """Every device listed, in order."""
        return self._fixed + self._found

    def _refill(self) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        chosen = self.strap.address if self.strap is not None else None
        options.add_options(
            [
                Option(device_label(d) + ("  ✓ chosen" if d.address == chosen else ""))
                for d in self.devices
            ]
        )
        if self.devices:
            options.highlighted = min(highlighted or 0, len(self.devices) - 1)

    def action_rescan(self) -> None:
        """Scan for treadmills in a worker (the UI stays live)."""
        if self._scanner is not None:
            self.query_one("#scan-status", Static).update("Scanning for treadmills…")
            self._scan()

    @work(exclusive=True, group="scan", exit_on_error=False)
    async def _scan(self) -> None:
        assert self._scanner is not None
        status = self.query_one("#scan-status", Static)
        try:
            found = await self._scanner()
        except Exception as exc:  # any adapter error: show it; nothing is moving yet
            status.update(f"Scan failed: {exc}")
            return
        known = {d.address for d in self._fixed}
        self._found = [d for d in found if d.address not in known]
        self._refill()
        straps = sum(1 for d in self._found if d.kind == "heart-rate")
        treadmills = len(self._found) - straps
        text = f"Scan done: {treadmills} treadmill(s) found."
        if straps:
            text += f" {straps} heart-rate strap(s): choose one too to use it."
        status.update(text)

    @on(OptionList.OptionSelected, "#devices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        device = self.devices[event.option_index]
        if device.kind == "heart-rate":
            self.strap = device
            self._refill()
            self.query_one("#scan-status", Static).update(
                f"Heart-rate strap {device.name} chosen; now choose the treadmill."
            )
            self.post_message(self.StrapChosen(device))
            return
        self.post_message(self.Chosen(device))


class ProfileScreen(RetroScreen):
    """The profiles: name, duration, speed and incline range, and the highlighted description."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(both_cases("backspace", "b"), "back", "Back"),
        Binding(both_cases("h"), "history", "History"),
    ]

    class Chosen(Message):
        """The operator chose ``profile``."""

        def __init__(self, profile: ProfileInfo) -> None:
            super().__init__()
            self.profile = profile

    class Back(Message):
        """The operator wants to choose another treadmill."""

    class HistoryRequested(Message):
        """The operator wants to see the session history."""

    def __init__(
        self,
        profiles: Sequence[ProfileInfo],
        units: SpeedUnit,
        device: str,
        *,
        stage: str | None = None,
    ) -> None:
        super().__init__()
        self._stage = stage
        """The walker's program stage for this session (``run --walker``), under the title."""
        self._profiles = list(profiles)
        self._units = units
        self._device = device

    def compose_body(self) -> Iterable[Widget]:
        """Title, the profile table, the description and the keys."""
        title = "Choose a profile" + (f" for {self._device}" if self._device else "")
        yield Static(title, classes="title", markup=False)
        if self._stage:
            stage = Static(self._stage, id="program-stage", markup=False)
            stage.styles.padding = (0, 1)
            yield stage
        yield DataTable(id="profiles", cursor_type="row", zebra_stripes=True)
        yield Static("", id="description", markup=False)
        yield Static("↑/↓ choose · Enter select · B back · H history", classes="keys")

    def on_mount(self) -> None:
        """Fill the table."""
        super().on_mount()
        table = self.query_one(DataTable)
        unit = unit_label(self._units)
        table.add_columns("Profile", "Time", f"Speed {unit}", "Incline %")
        for p in self._profiles:
            table.add_row(
                p.name,
                duration(p.duration_s),
                _range(
                    speed_number(p.speed_min_kmh, self._units),
                    speed_number(p.speed_max_kmh, self._units),
                ),
                _range(incline_number(p.incline_min_pct), incline_number(p.incline_max_pct)),
                key=p.key,
            )
        if not self._profiles:
            self.query_one("#description", Static).update("No profiles found.")
        table.focus()

    @on(DataTable.RowHighlighted, "#profiles")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        p = self._profiles[event.cursor_row]
        audience = f"For: {p.audience}\n" if p.audience else ""
        harness = "A harness is required for this profile.\n" if p.harness else ""
        self.query_one("#description", Static).update(f"{audience}{harness}{reflow(p.description)}")

    @on(DataTable.RowSelected, "#profiles")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(self.Chosen(self._profiles[event.cursor_row]))

    def action_back(self) -> None:
        """Back to the treadmill list."""
        self.post_message(self.Back())

    def action_history(self) -> None:
        """Show the session history."""
        self.post_message(self.HistoryRequested())


def reflow(text: str) -> str:
    """Join hard-wrapped lines into paragraphs so the text wraps to the screen width."""
    paragraphs = [" ".join(block.split()) for block in text.strip().split("\n\n")]
    return "\n".join(p for p in paragraphs if p)


def _range(low: str, high: str) -> str:
    return low if low == high else f"{low}–{high}"


class ConnectingScreen(RetroScreen):
    """Connects and loads the profile (``SessionController.prepare``) in a worker."""

    class Failed(Message):
        """``prepare`` failed with an operator-readable ``reason``."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class Done(Message):
        """``prepare`` returned: the session is in preflight."""

    def __init__(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        super().__init__()
        self.device = device
        self.profile = profile

    def compose_body(self) -> Iterable[Widget]:
        """What is happening, and a spinner."""
        yield Static(
            f"Connecting to {self.device.name} and loading “{self.profile.name}”…",
            classes="title",
            markup=False,
        )
        yield LoadingIndicator()
        yield Static("STOP works at any time.", classes="keys")
