from __future__ import annotations

import pytest

from uvscope.analysis.settings import AnalysisSettings, InferenceSettings, PostprocessSettings

SHAPE = (192, 256)
PX_UM = 0.16


@pytest.fixture
def settings() -> AnalysisSettings:
    # the synthetic tiles have few dark pixels: stretch from the darkest one
    # synthetic basophils (r = 3 um) are smaller than the default minimum cell area
    return AnalysisSettings(
        inference=InferenceSettings(low_pct=0.0, patch_overlap_px=16),
        postprocess=PostprocessSettings(min_cell_area_um2=10.0),
    )
