"""Object storage shared by every stage: local folders, Azure Blob and ADLS Gen2 locations."""
