"""Stage 1, images: landed_images (what arrived in the source container), raw_images, new_images_sensor."""
