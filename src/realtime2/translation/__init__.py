"""Live speech translation sessions (`/v1/realtime/translations`).

`session` is the sans-I/O protocol state (client events and audio in, server events and
phrase commands out), `segmenter` cuts the input stream into short phrases at pauses,
`pipeline` turns one phrase into transcripts and translated speech with the configured
engines, `voices` picks a voice for the target language, and `runner` drives it all for a
transport.
"""
