"""ftms package."""
