import time

from uvscope.acquisition.live import LiveView


def test_live_view_newest_frame_wins(flat_rig):
    live = LiveView(flat_rig, wavelength_nm=280, exposure_ms=5.0, max_fps=200)
    live.start()
    deadline = time.monotonic() + 5
    while live.latest_with_seq()[0] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    seq, frame = live.latest_with_seq()
    assert seq >= 5 and frame is not None and frame.image.shape == (96, 128)
    assert frame.meta.extra["wavelength_nm"] == 280 and frame.meta.exposure_ms == 5.0
    live.set_wavelength(300)
    deadline = time.monotonic() + 5
    while live.latest().meta.extra["wavelength_nm"] != 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live.latest().meta.extra["wavelength_nm"] == 300
    live.stop()
    assert not live.running and live.error is None
    seq_after = live.latest_with_seq()[0]
    time.sleep(0.05)
    assert live.latest_with_seq()[0] == seq_after  # stopped means stopped
