"""The flight software: executive, navigation, control, modes, contingency watchdog, CLI."""

__version__ = "0.1.0"
