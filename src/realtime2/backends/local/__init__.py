"""Embedded, offline backends: faster-whisper, llama.cpp, Piper, Silero VAD, webrtcvad."""
