"""Ground tools: what runs on the ground station, never on the vehicle.

Flight-log info, CSV export, the anomaly plot and replay. They read logs through pyulog
(``ground.logfile``) and the log schema from ``firmware.log_topics``. Layering: ``ground``
may import ``firmware``, ``hal``'s contract modules, pyulog, numpy and (lazily, for the plot
only) matplotlib; never ``sim_hal`` or ``app``.
"""
