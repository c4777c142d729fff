"""Test doubles for what cannot run here; each one is as strict as the real thing."""
