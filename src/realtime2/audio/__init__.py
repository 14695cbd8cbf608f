"""Audio helpers: pcm16/float conversion, resampling, container decode and encode."""
