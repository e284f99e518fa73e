"""The bottom layer: errors, safe files, manifest schemas, progress lines, audio files, environment facts.

Nothing here imports another ttsx layer, so any module may use it.
"""
