"""Issue 23, half B: the tests that give each of these fields its effect, for the field walk
(`tests/protocol/test_field_coverage.py`). Keys are field paths as the walk names them,
prefixed by its root (`session.`, `transcription_session.`, `translation_session.`,
`response.`, `item.`); values are pytest node ids."""

from __future__ import annotations

from typing import Final

_IMAGES = "tests/protocol/test_images.py"
_NR = "tests/protocol/test_noise_reduction.py"
_LOGPROBS = "tests/protocol/test_transcription_logprobs.py"
_TRACING = "tests/realtime/test_runner_tracing.py"
_LLM = "tests/backends/openai/test_llm_features.py"
_RUNNER_LLM = "tests/realtime/test_runner_llm_features.py"

TRACING: Final = [
    f"{_TRACING}::test_spans_per_session_and_turn_named_by_the_client",
    f"{_TRACING}::test_auto_uses_the_default_workflow_name",
    f"{_TRACING}::test_null_tracing_records_nothing",
]
NOISE_REDUCTION: Final = [
    f"{_NR}::test_noise_starts_a_turn_without_reduction_and_none_with_it",
    f"{_NR}::test_committed_audio_is_the_suppressed_audio",
    f"{_NR}::test_turning_it_off_restores_the_raw_audio",
    "tests/audio/test_denoise.py::test_steady_noise_is_suppressed_far_field_more_than_near_field",
    "tests/audio/test_denoise.py::test_a_stream_returns_every_sample_in_order",
]
LOGPROBS: Final = [
    f"{_LOGPROBS}::test_logprobs_go_into_delta_and_completed",
    f"{_LOGPROBS}::test_no_logprobs_unless_included",
    f"{_LOGPROBS}::test_logprobs_session_skips_speculative_drafts",
    "tests/realtime/test_runner_logprobs.py::test_completed_transcription_carries_the_stt_logprobs",
    "tests/realtime/test_runner_logprobs.py::test_an_stt_without_logprobs_says_so_once_by_name",
    "tests/backends/local/test_whisper_logprobs.py::test_logprobs_are_finite_and_one_per_token",
]
REASONING: Final = [
    f"{_RUNNER_LLM}::test_reasoning_effort_reaches_the_request",
    f"{_LLM}::test_reasoning_effort_is_sent_when_declared",
]
IMAGES: Final = [
    f"{_IMAGES}::test_image_reaches_the_llm_request_with_vision",
    f"{_IMAGES}::test_image_is_refused_naming_the_part_without_vision",
    f"{_IMAGES}::test_inline_image_in_response_input_is_refused_too",
    f"{_RUNNER_LLM}::test_images_reach_a_vision_llm",
    f"{_RUNNER_LLM}::test_images_are_refused_for_a_text_only_llm",
    f"{_LLM}::test_images_are_sent_as_image_url_parts",
]
IMAGE_DETAIL: Final = [
    f"{_IMAGES}::test_image_reaches_the_llm_request_with_vision",
    f"{_LLM}::test_images_are_sent_as_image_url_parts",
]
TRANSLATION_NOISE_REDUCTION: Final = [
    "tests/translation/test_noise_reduction.py::test_noise_makes_phrases_only_without_reduction",
]

COVERAGE: Final[dict[str, list[str]]] = {
    "session.tracing": TRACING,
    "session.tracing.workflow_name": TRACING[:1],
    "session.tracing.group_id": TRACING[:1],
    "session.tracing.metadata": TRACING[:1],
    "session.audio.input.noise_reduction": NOISE_REDUCTION,
    "session.audio.input.noise_reduction.type": NOISE_REDUCTION[3:4],
    "session.audio.input.noise_reduction.strength": NOISE_REDUCTION[4:5],
    "transcription_session.audio.input.noise_reduction": NOISE_REDUCTION[:1],
    "translation_session.audio.input.noise_reduction": TRANSLATION_NOISE_REDUCTION,
    "session.include": LOGPROBS,
    "transcription_session.include": LOGPROBS[:2],
    "session.reasoning": REASONING[:1],
    "session.reasoning.effort": REASONING,
    "response.reasoning": REASONING[:1],
    "response.reasoning.effort": REASONING,
    "item.content.image_url": IMAGES,
    "item.content.detail": IMAGE_DETAIL,
}
