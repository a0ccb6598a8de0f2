"""A sample identity for GUI tests that start scans (the lab default requires one)."""

from uvscope.config import SampleConfig

IDENTIFIED = SampleConfig(id="S-0001", slide_id="SL-0001", operator="test operator")
