"""Bluetooth LE plumbing: one way in for the application, several radios underneath.

* :mod:`retro_treadmill.ble.adapter` - :func:`~retro_treadmill.ble.adapter.open_adapter`
  (``system``, ``bumble:TRANSPORT`` or an in-process virtual radio) returning bleak
  ``BleakScanner``/``BleakClient`` factories. Start here.
* :mod:`retro_treadmill.ble.backend` - the bleak backend over bumble (``backend=``).
* :mod:`retro_treadmill.ble.central` - the bumble host shared by one adapter's clients/scanners.
* :mod:`retro_treadmill.ble.radio` - :class:`~retro_treadmill.ble.radio.VirtualRadio`, bumble
  virtual controllers on one link, also served as HCI over TCP on loopback.
* :mod:`retro_treadmill.ble.discovery` - finding FTMS treadmills and heart-rate monitors.
"""
