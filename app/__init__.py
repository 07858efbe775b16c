"""Deployment: the command line and the composition root, the only code that wires backends
(sim_hal, the rig's drivers) to the flight software."""
