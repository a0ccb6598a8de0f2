"""The per-tile analysis pipeline, counting, differential and stitching."""
