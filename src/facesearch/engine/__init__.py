"""The face engine: decode, detect, align, quality, embed; one photo in, faces out."""
