"""Deployment: the only code that wires backends (sim_hal, the rig's drivers) to the flight
software.

``boot`` turns config files into a validated ``FlightSetup`` and its ``Hal``; ``backends`` is
the table of backends; ``session`` runs one flight with one cleanup path (``fly``);
``preflight`` and ``bench`` are the hardware checks; ``scoring`` and ``summary`` judge and
report a flight; ``cli`` is ``flightsw``."""
