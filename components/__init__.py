"""Reusable UI builders: functions that return Dash components."""
