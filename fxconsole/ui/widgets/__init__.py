"""The console's panels and their helpers."""
