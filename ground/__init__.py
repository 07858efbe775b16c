"""Ground tools: what runs on the ground station, never on the vehicle.

Flight-log info, CSV export, the anomaly plot, replay, and a flight's photos listed and on a
contact sheet. They read logs through pyulog (``ground.logfile``) and the log schema from
``firmware.log_topics``. Layering: ``ground`` may import ``firmware``, ``hal``'s contract
modules, pyulog, numpy, Pillow (the photos) and (lazily, for the plots only) matplotlib;
never ``sim_hal`` or ``app``.
"""
