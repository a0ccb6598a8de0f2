"""The simulated world: virtual slide with ground truth, optics and camera model, simulated
devices on a virtual clock, and wire-level emulators of the serial controllers."""
