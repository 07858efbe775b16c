"""Simulated backend: world, sensor models, sim clock, fault injection, device emulators."""
