"""Hardware abstraction layer: the contract (types, interfaces, clock) and the real drivers."""
