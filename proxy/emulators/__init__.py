"""Provider emulators: SMSPVA and VAK-SMS wire formats with real state (tests, demo, benchmarks)."""

from proxy.emulators.common import EmulatorBase, Message, Order, OrderState
from proxy.emulators.smspva import SmspvaEmulator
from proxy.emulators.vaksms import VaksmsEmulator

__all__ = [
    "EmulatorBase",
    "Message",
    "Order",
    "OrderState",
    "SmspvaEmulator",
    "VaksmsEmulator",
]
