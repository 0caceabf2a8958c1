"""Provider emulators: SMSPVA (activation, rental) and VAK-SMS wire formats with real state."""

from proxy.emulators.common import EmulatorBase, Message, Order, OrderState
from proxy.emulators.smspva import SmspvaEmulator
from proxy.emulators.smspva_rent import RentOrder, RentSms, RentState, SmspvaRent
from proxy.emulators.vaksms import VaksmsEmulator

__all__ = [
    "EmulatorBase",
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
