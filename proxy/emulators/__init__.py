"""Provider emulators: SMSPVA (activation, rental), VAK-SMS and SMS-Activate-compatible
services (one per quirk profile), their wire formats with real state."""

from proxy.emulators.common import EmulatorBase, Message, Order, OrderState
from proxy.emulators.handler_api import HandlerApiEmulator
from proxy.emulators.smspva import SmspvaEmulator
from proxy.emulators.smspva_rent import RentOrder, RentSms, RentState, SmspvaRent
from proxy.emulators.vaksms import VaksmsEmulator

__all__ = [
    "EmulatorBase",
    "HandlerApiEmulator",
    "Message",
    "Order",
    "OrderState",
    "RentOrder",
    "RentSms",
    "RentState",
    "SmspvaEmulator",
    "SmspvaRent",
    "VaksmsEmulator",
]
