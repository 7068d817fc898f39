"""The real test bed, shared by ``tests/``, ``bench/`` and ``make screenshots``.

It lives beside them, not inside ``tests``, so that ``bench`` never imports the test suite:
libvirtd and TCG guests (:mod:`testbed.bed`), the umockdev USB testbed (:mod:`testbed.usb`),
paced USB events (:mod:`testbed.pacing`), a fleet of test-driver, down and hung hosts
(:mod:`testbed.fleet`) and the one way to wait for a condition
(:mod:`testbed.wait`). Nothing here is a fake, and nothing here imports pytest.
"""
