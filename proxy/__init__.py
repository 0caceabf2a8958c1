"""smsproxy: an SMS-Activate protocol gateway."""

__version__ = "0.1.0"
