from __future__ import annotations

import pytest

from uvscope.analysis.settings import AnalysisSettings, InferenceSettings, PostprocessSettings

SHAPE = (192, 256)
PX_UM = 0.16


@pytest.fixture
def settings() -> AnalysisSettings:
    # the synthetic tiles have few dark pixels: stretch from the darkest one
    # synthetic basophils (r = 3 um) are smaller than the default minimum cell area, and their
    # flat 0.4-transmission nucleus (8.6 um2) absorbs less than a nucleus's DNA would (3.4 of
    # ~15 OD um2)
    return AnalysisSettings(
        inference=InferenceSettings(low_pct=0.0, patch_overlap_px=16),
        postprocess=PostprocessSettings(min_cell_area_um2=10.0, min_nucleus_od_um2=2.0),
    )
