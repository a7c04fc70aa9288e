"""Who may have sent a message: its site, device and gateway against the site inventory.

The broker's ACL is the first line: with the shipped `acl`, a gateway's user can publish only under its own
site. Where the ACL is missing or wrong (an open broker, a pattern too wide), any client can publish data
for any site, claiming any gateway; the contract cannot tell, since the ids in the payload match the topic.
The inventory can: it lists each site, the one gateway that serves it, and its devices. So, by
configuration (`inventory_check` in backend.yaml, on by default once `sites` is set), a message for a site
or device the inventory does not list, or whose `gateway` is not the site's gateway, is dead-lettered with
one of the reasons below and its payload as sent, instead of being stored. Ingest and the rules service
apply the same check (the rules service alerts on nothing ingest refuses).

A device is known when the site file lists it, enabled or not: enabling a device is a change at the site,
and its first readings may arrive before the backend's copy of the file is updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pantau.contract import AlertTransition, Message

if TYPE_CHECKING:
    from backend.config import BackendConfig
    from backend.inventory import SiteInventory

#: Dead-letter reasons of the sender check (the contract's own reasons are in docs/contract.md).
UNKNOWN_SITE: Final = "unknown_site"
UNKNOWN_DEVICE: Final = "unknown_device"
GATEWAY_MISMATCH: Final = "gateway_mismatch"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class _Site:
    gateway: str
    devices: frozenset[str]


class SenderCheck:
    """The inventory's sites, gateways and devices, reduced to what the check needs (built once at start)."""

    def __init__(self, inventory: SiteInventory) -> None:
        self._sites = {
            site.id: _Site(site.gateway, frozenset(device.id for device in site.devices))
            for site in inventory.sites()
        }

    @classmethod
    def for_backend(cls, config: BackendConfig, inventory: SiteInventory) -> SenderCheck | None:
        """The check ingest and the rules service run, or None: off in the config, or no inventory to
        check against (`sites` unset: the backend of a demo or a test, which stores whatever comes)."""
        if not config.inventory_check or config.sites is None:
            return None
        return cls(inventory)

    def refuse(self, message: Message) -> Refusal | None:
        """Why `message` cannot come from the gateway it names, or None when the inventory vouches for it."""
        if isinstance(message, AlertTransition):  # the backend's own, never on the gateways' topics
            return None
        return self.refuse_ids(message.site, message.gateway, getattr(message, "device", None))

    def refuse_ids(self, site_id: str, gateway: str, device: str | None) -> Refusal | None:
        """`refuse` on the ids alone (ingest's fast path has no contract model to hand)."""
        site = self._sites.get(site_id)
        if site is None:
            return Refusal(UNKNOWN_SITE, f"site '{site_id}' is in no site file of the inventory")
        if gateway != site.gateway:
            return Refusal(
                GATEWAY_MISMATCH,
                f"site '{site_id}' is served by gateway '{site.gateway}', "
                f"but the message says gateway '{gateway}'",
            )
        if device is not None and device not in site.devices:
            return Refusal(UNKNOWN_DEVICE, f"site '{site_id}' has no device '{device}' in its site file")
        return None
