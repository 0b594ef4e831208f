"""ble package."""
