"""Jobs that run several stages for one emotion partition (they select assets by name, importing no stage)."""
