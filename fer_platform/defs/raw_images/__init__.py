"""Stage 1: the raw_images manifest per emotion folder, and new_images_sensor."""
