"""Seeded fault scenarios: `random.Random(seed)` decides which faults strike, when and for how long.

A scenario is a family (what kind of fault) and a seed; the same pair gives the same plan on every run, so
a failure replays with its test id (`test_faults[gateway-sigkill-1007]`). The timing of the real processes
around the plan is not deterministic (that is what the faults are for); the plan is.

`PANTAU_FAULT_PROFILE=long` (`make faults`) runs more seeds per family with outages of a minute or more.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tests.faults.ledger import Count
from tests.faults.rig import Rig, StorageKind

LONG = os.environ.get("PANTAU_FAULT_PROFILE", "ci") == "long"
#: Seconds of faulted operation per scenario, and how long an outage may last.
ACTIVE_S = 150.0 if LONG else 3.5
OUTAGE_S = (60.0, 140.0) if LONG else (2.0, 5.0)


@dataclass(frozen=True)
class Event:
    at: float
    label: str
    action: Callable[[Rig], None]


@dataclass(frozen=True)
class Family:
    name: str
    plan: Callable[[random.Random], list[Event]]
    storage: StorageKind = "influx"
    persistence: bool = True
    disk: bool = False  # the outbox on a small filesystem of its own
    known: str | None = None  # a loss this family shows every time, and why (the test is xfail(strict))
    autosave_s: int = 10  # the broker's autosave_interval (the shipped config's)
    #: What shows the faults struck (a quota that dropped nothing proves nothing), and how to tell.
    proof: tuple[str, Callable[[Count], bool]] | None = None

    def events(self, seed: int) -> list[Event]:
        return sorted(self.plan(random.Random(seed)), key=lambda e: e.at)  # noqa: S311 - a seeded plan


#: What the broker faults below lose without the end-to-end acknowledgement (the gateway's receipts, see
#: docs/contract.md): kept as the reason each family exists.
NO_PERSISTENCE = (
    "Mosquitto without persistence forgets the backend's subscription when it restarts: until the backend "
    "subscribes again, every reading the gateway publishes is acknowledged (PUBACK) and discarded. The "
    "gateway keeps them until a receipt, and later receipts show them skipped: it sends them again."
)
BROKER_CRASH = (
    "A broker crash loses what it acknowledged (PUBACK) and had neither delivered nor saved: here the "
    "readings queued for the backend while it was away (Mosquitto's default autosave of 30 min makes the "
    "loss certain). The gateway keeps them until a receipt, and later receipts show them skipped."
)


def _windows(rng: random.Random, count: int, span: tuple[float, float]) -> list[tuple[float, float]]:
    """`count` faults one after another within the active time: (start, end) each, `span` long at most."""
    slot = (ACTIVE_S - 0.6) / count
    windows = []
    for index in range(count):
        length = min(rng.uniform(*span), slot - 0.3)
        begin = 0.3 + index * slot + rng.uniform(0.0, slot - 0.2 - length)
        windows.append((round(begin, 2), round(begin + length, 2)))
    return windows


def _call(name: str, *args: object) -> Callable[[Rig], None]:
    def act(rig: Rig) -> None:
        getattr(rig, name)(*args)

    return act


def _device(device: str, switch: str, value: object) -> Callable[[Rig], None]:
    """Set one of a device's fault switches (`faults.no_reply`, `garbage.probability`)."""
    group, name = switch.split(".")

    def act(rig: Rig) -> None:
        setattr(getattr(rig.devices[device], group), name, value)

    return act


def _down_and_up(
    rng: random.Random, what: str, down: str, up: str, count: int, span: tuple[float, float]
) -> list[Event]:
    verb = "SIGTERM" if down.startswith("stop") else "SIGKILL"
    events = []
    for begin, end in _windows(rng, count, span):
        events.append(Event(begin, f"{verb} {what}", _call(down)))
        events.append(Event(end, f"start {what} ({end - begin:.2f} s later)", _call(up)))
    return events


def gateway_kills(rng: random.Random) -> list[Event]:
    return _down_and_up(rng, "gateway", "kill_gateway", "start_gateway", rng.randint(2, 3), (0.1, 0.8))


def backend_kills(rng: random.Random) -> list[Event]:
    return _down_and_up(rng, "backend", "kill_backend", "start_backend", 2, (0.1, 1.0))


def broker_kills(rng: random.Random) -> list[Event]:
    return _down_and_up(rng, "mosquitto", "kill_broker", "start_broker", rng.randint(1, 2), (0.1, 1.5))


def broker_restart(rng: random.Random) -> list[Event]:
    return _down_and_up(rng, "mosquitto", "stop_broker", "start_broker", 1, (0.2, 1.5))


def broker_and_backend_restart(rng: random.Random) -> list[Event]:
    """The broker restarts and the backend comes back after the gateway (a power cut at the operations
    center, say): meanwhile the backend's subscription lives only in the broker's persistence."""
    at = round(rng.uniform(0.5, 1.5), 2)
    back = round(at + rng.uniform(0.3, 0.8), 2)
    late = round(back + rng.uniform(1.0, 2.0), 2)
    return [
        Event(at, "SIGKILL backend", _call("kill_backend")),
        Event(at, "SIGTERM mosquitto", _call("stop_broker")),
        Event(back, "start mosquitto", _call("start_broker")),
        Event(late, "start backend", _call("start_backend")),
    ]


def broker_crash_while_backend_away(rng: random.Random) -> list[Event]:
    """The backend is away (restarting) while the gateway publishes; the broker crashes meanwhile."""
    at = round(rng.uniform(0.3, 1.0), 2)
    crash = round(at + rng.uniform(1.0, 2.0), 2)
    back = round(crash + rng.uniform(0.2, 0.8), 2)
    return [
        Event(at, "SIGKILL backend", _call("kill_backend")),
        Event(crash, "SIGKILL mosquitto", _call("crash_broker")),
        Event(back, "start mosquitto", _call("start_broker")),
        Event(back, "start backend", _call("start_backend")),
    ]


def influxd_kills(rng: random.Random) -> list[Event]:
    return _down_and_up(rng, "influxd", "kill_influxd", "start_influxd", rng.randint(1, 2), (0.2, 2.0))


def influxd_stopped(rng: random.Random) -> list[Event]:
    return _down_and_up(rng, "influxd", "stop_influxd", "start_influxd", 1, OUTAGE_S)


def link_cut(mode: str, rng: random.Random) -> list[Event]:
    events = []
    for begin, end in _windows(rng, rng.randint(1, 2), OUTAGE_S):
        events.append(Event(begin, f"link {mode}", _call("cut_link", mode)))
        events.append(Event(end, f"link healed ({end - begin:.2f} s later)", _call("heal_link")))
    return events


def quota(rng: random.Random) -> list[Event]:
    """The link drops, readings queue up, then the outbox passes its quota: the oldest go, counted."""
    at = round(rng.uniform(0.3, 1.0), 2)
    fill = round(at + rng.uniform(1.0, 2.0), 2)
    heal = round(fill + rng.uniform(0.3, 1.0), 2)
    return [
        Event(at, "link drop", _call("cut_link", "drop")),
        Event(fill, "outbox quota reached (filler queued)", _call("fill_outbox")),
        Event(heal, "link healed", _call("heal_link")),
    ]


def disk_full(rng: random.Random) -> list[Event]:
    ((begin, end),) = _windows(rng, 1, OUTAGE_S)
    return [
        Event(begin, "outbox disk full", _call("fill_disk")),
        Event(end, "disk freed", _call("free_disk")),
    ]


def device_fault(kind: str, rng: random.Random) -> list[Event]:
    """Garbage (random bytes instead of a reply; on the RTU line, where the CRC can tell), an exception
    reply (illegal address, device failure, busy) or no reply at all, for a while."""
    events = []
    for begin, end in _windows(rng, 2, OUTAGE_S):
        device = "wl-rtu" if kind == "garbage" else rng.choice(["wl-tcp", "wl-rtu"])
        if kind == "garbage":
            switch, on, off = "garbage.probability", rng.choice([0.3, 0.6, 1.0]), 0.0
        elif kind == "exception":
            switch, on, off = "faults.exception_code", rng.choice([2, 4, 6]), None
        else:
            switch, on, off = "faults.no_reply", True, False
        what = f"exception {on}" if kind == "exception" else kind
        events.append(Event(begin, f"{device} answers {what}", _device(device, switch, on)))
        events.append(Event(end, f"{device} well ({end - begin:.2f} s later)", _device(device, switch, off)))
    return events


RECONNECTED = ("the gateway connected again", lambda count: count.connections >= 2)


def chaos(rng: random.Random) -> list[Event]:
    """Two families at once, the pair picked by the seed. Broker crashes never pair with backend kills:
    a crash while the backend is away loses what was queued for it, the known loss shown on its own
    (mosquitto-sigkill-backend-away)."""
    link_drop, silent = partial(link_cut, "drop"), partial(device_fault, "nothing")
    pairs = [
        (gateway_kills, backend_kills),
        (gateway_kills, broker_kills),
        (gateway_kills, link_drop),
        (backend_kills, link_drop),
        (backend_kills, silent),
        (broker_kills, link_drop),
        (broker_kills, silent),
        (link_drop, silent),
    ]
    return [event for family in rng.choice(pairs) for event in family(rng)]


FAMILIES = {
    "gateway-sigkill": Family("gateway-sigkill", gateway_kills),
    "gateway-sigkill-sqlite": Family("gateway-sigkill-sqlite", gateway_kills, storage="sqlite"),
    "backend-sigkill": Family("backend-sigkill", backend_kills),
    "backend-sigkill-sqlite": Family("backend-sigkill-sqlite", backend_kills, storage="sqlite"),
    "mosquitto-sigkill": Family("mosquitto-sigkill", broker_kills, proof=RECONNECTED),
    "mosquitto-restart": Family("mosquitto-restart", broker_restart, proof=RECONNECTED),
    "mosquitto-and-backend-restart": Family("mosquitto-and-backend-restart", broker_and_backend_restart),
    "mosquitto-sigkill-backend-away": Family(
        "mosquitto-sigkill-backend-away", broker_crash_while_backend_away, autosave_s=1800
    ),
    "mosquitto-and-backend-restart-no-persistence": Family(
        "mosquitto-and-backend-restart-no-persistence",
        broker_and_backend_restart,
        persistence=False,
    ),
    "influxd-sigkill": Family("influxd-sigkill", influxd_kills),
    "influxd-stopped": Family("influxd-stopped", influxd_stopped),
    "link-drop": Family("link-drop", partial(link_cut, "drop"), proof=RECONNECTED),
    "link-stall": Family("link-stall", partial(link_cut, "stall"), proof=RECONNECTED),
    "link-half-close": Family("link-half-close", partial(link_cut, "half_close"), proof=RECONNECTED),
    "outbox-quota": Family(
        "outbox-quota", quota, proof=("readings dropped", lambda count: count.dropped_readings > 0)
    ),
    "disk-full": Family(
        "disk-full",
        disk_full,
        disk=True,
        proof=("polls not stored and counted", lambda count: count.unstored_readings > 0),
    ),
    "device-garbage": Family(
        "device-garbage",
        partial(device_fault, "garbage"),
        proof=("noise sent", lambda count: count.garbled > 0),
    ),
    "device-exception": Family("device-exception", partial(device_fault, "exception")),
    "device-silent": Family("device-silent", partial(device_fault, "nothing")),
    "chaos": Family("chaos", chaos),
}

#: (family, seed) pairs run in CI; the long profile adds seeds.
CI_SEEDS: dict[str, list[int]] = {
    "gateway-sigkill": [1007, 2113],
    "gateway-sigkill-sqlite": [3301],
    "backend-sigkill": [4409],
    "backend-sigkill-sqlite": [5527],
    "mosquitto-sigkill": [6661, 7717],
    "mosquitto-restart": [8819],
    "mosquitto-and-backend-restart": [9127],
    "mosquitto-sigkill-backend-away": [9403],
    "mosquitto-and-backend-restart-no-persistence": [9901],
    "influxd-sigkill": [1103],
    "influxd-stopped": [1201],
    "link-drop": [1301],
    "link-stall": [1409],
    "link-half-close": [1511],
    "outbox-quota": [1601],
    "disk-full": [1709],
    "device-garbage": [1801],
    "device-exception": [1907],
    "device-silent": [2003],
    "chaos": [2111, 2203],
}


def selected() -> list[tuple[str, int]]:
    extra = 2 if LONG else 0  # three seeds per family
    return [
        (name, seed + 7919 * k)
        for name, seeds in CI_SEEDS.items()
        for seed in seeds
        for k in range(1 + extra)
    ]
