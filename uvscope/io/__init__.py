"""OME-TIFF writers and readers, scan manifest, cell table and reports."""
