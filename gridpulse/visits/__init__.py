"""Visit tracks (issue 4, in progress): from GPS fixes to visits. Pure code, no I/O.

Only the track cleaning and stay-point detection exist so far; the stream processor,
coverage, off-grid and silence facts, households and the map layers do not yet.
"""
