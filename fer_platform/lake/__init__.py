"""Stage 4, lake: every path under FER_LAKE_URL (``layout``) and the incremental transfers into it (``transfer``)."""
