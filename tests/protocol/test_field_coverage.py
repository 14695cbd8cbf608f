"""Every field of the SDK's session, response and item types is decided (issue 23).

The walk goes through `model_fields` of the `openai` SDK's own pydantic models, recursively:
realtime sessions (`session.update`), transcription sessions, translation sessions, the
response of `response.create`, and conversation items. Each field must be, in `FIELDS`:

- `covered`: it has its effect, and the listed tests show that effect;
- `refused`: the server answers with an `error` naming it; `example` is a client event that
  uses it, and `test_refused_fields_are_refused_by_name` sends each one;
- `hint`: sent by mainstream clients by default, so never refused; given a real effect where
  there is one and documented (`docs/compatibility.md`), with the listed tests;
- `todo`: nobody has decided yet: this test fails until someone does.

A field not in the table (or under an entry marked `subtree`) fails the walk, so a new SDK
field fails here until someone decides what the server does with it. `docs/compatibility.md`
is this table in prose.
"""

from __future__ import annotations

import ast
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from openai.types.realtime.conversation_item import ConversationItem
from openai.types.realtime.realtime_response_create_params import RealtimeResponseCreateParams
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest
from openai.types.realtime.realtime_transcription_session_create_request import (
    RealtimeTranscriptionSessionCreateRequest,
)
from openai.types.realtime.realtime_translation_session_update_request import (
    RealtimeTranslationSessionUpdateRequest,
)
from pydantic import BaseModel

from tests.protocol.field_coverage_b import COVERAGE as B
from tests.support.harness import Harness

ROOT = Path(__file__).resolve().parents[2]

ROOTS: dict[str, Any] = {
    "session": RealtimeSessionCreateRequest,
    "transcription_session": RealtimeTranscriptionSessionCreateRequest,
    "translation_session": RealtimeTranslationSessionUpdateRequest,
    "response": RealtimeResponseCreateParams,
    "item": ConversationItem,
}


@dataclass(frozen=True)
class Field:
    verdict: Literal["covered", "refused", "hint", "todo"]
    tests: tuple[str, ...] = ()
    example: dict[str, Any] | None = None  # a client event using the field (refused)
    param: str = ""  # the refusal's `param` starts with this
    subtree: bool = False  # the verdict holds for every field below this one
    note: str = ""


def covered(*tests: str, subtree: bool = False) -> Field:
    return Field("covered", tests, subtree=subtree)


def hint(*tests: str, note: str = "") -> Field:
    return Field("hint", tests, note=note)


def refused(example: dict[str, Any], param: str, *, subtree: bool = True) -> Field:
    return Field("refused", example=example, param=param, subtree=subtree)


def todo(note: str) -> Field:
    return Field("todo", note=note)


def session(**fields: Any) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", **fields}}


def transcription(**fields: Any) -> dict[str, Any]:
    inner = {"model": "whisper-1", **fields}
    return session(audio={"input": {"transcription": inner}})


def response(**fields: Any) -> dict[str, Any]:
    return {"type": "response.create", "response": fields}


def item(**fields: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": fields}


MCP_TOOL = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com"}
MCP_CALL = {"type": "mcp_call", "id": "m1", "server_label": "docs", "name": "n", "arguments": "{}"}
MCP_LIST = {"type": "mcp_list_tools", "server_label": "docs", "tools": []}
MCP_APPROVAL = {"type": "mcp_approval_response", "approval_request_id": "a1", "approve": True}
MCP_REQUEST = {"type": "mcp_approval_request", "id": "a1", "server_label": "d", "name": "n"}
PROMPT = {"id": "pmpt_1", "variables": {"city": "Paris"}, "version": "2"}

T_SESSION = "tests/protocol/test_session.py"
T_REFUSALS = "tests/protocol/test_refusals.py"
T_EFFECTS = "tests/protocol/test_field_effects.py"
T_TRANSLATION = "tests/translation/test_session.py"
T_MCP = "tests/protocol/test_mcp.py"
T_MCP_RUN = "tests/realtime/test_mcp_runner.py"

SESSION_FIELDS = {
    "type": covered(
        f"{T_SESSION}::test_transcription_session",
        f"{T_SESSION}::test_session_created_carries_the_full_session",
    ),
    "audio": covered(f"{T_SESSION}::test_session_update_merges_nested_fields"),
    "audio.input": covered(f"{T_SESSION}::test_session_update_merges_nested_fields"),
    "audio.input.format": covered(f"{T_SESSION}::test_g711_input_drives_vad", subtree=True),
    "audio.input.noise_reduction": hint(
        "tests/protocol/test_noise_reduction.py::test_noise_starts_a_turn_without_reduction_and_none_with_it",
        "tests/protocol/test_noise_reduction.py::test_committed_audio_is_the_suppressed_audio",
        "tests/protocol/test_noise_reduction.py::test_turning_it_off_restores_the_raw_audio",
        note="sent by the seed's scripts; speexdsp noise suppression before VAD and STT",
    ),
    "audio.input.noise_reduction.type": hint(
        "tests/audio/test_denoise.py::test_steady_noise_is_suppressed_far_field_more_than_near_field"
    ),
    "audio.input.noise_reduction.strength": hint(
        "tests/audio/test_denoise.py::test_a_stream_returns_every_sample_in_order"
    ),
    "audio.input.transcription": covered(f"{T_SESSION}::test_user_audio_item_is_transcribed"),
    "audio.input.transcription.model": covered(
        f"{T_SESSION}::test_transcription_session",
        "tests/protocol/test_errors.py::test_session_update_refusals_change_nothing",
    ),
    "audio.input.transcription.language": covered(f"{T_SESSION}::test_transcription_session"),
    "audio.input.transcription.prompt": covered(
        f"{T_REFUSALS}::test_transcription_keywords_and_one_language_reach_the_stt"
    ),
    "audio.input.transcription.keywords": covered(
        f"{T_REFUSALS}::test_transcription_keywords_and_one_language_reach_the_stt"
    ),
    "audio.input.transcription.languages": covered(
        f"{T_REFUSALS}::test_transcription_keywords_and_one_language_reach_the_stt",
        f"{T_REFUSALS}::test_transcription_fields_the_stt_cannot_honour_are_refused",
    ),
    "audio.input.transcription.delay": covered(
        "tests/protocol/test_live_transcription.py::test_delay_sets_the_interval_between_hypotheses"
    ),
    "audio.input.turn_detection": covered(f"{T_SESSION}::test_server_vad_turn_cycle"),
    "audio.input.turn_detection.type": covered(
        f"{T_SESSION}::test_server_vad_turn_cycle",
        f"{T_SESSION}::test_semantic_vad_eagerness_and_completeness",
    ),
    "audio.input.turn_detection.threshold": covered(
        f"{T_SESSION}::test_session_update_merges_nested_fields"
    ),
    "audio.input.turn_detection.prefix_padding_ms": covered(
        f"{T_EFFECTS}::test_prefix_padding_reaches_back_before_speech"
    ),
    "audio.input.turn_detection.silence_duration_ms": covered(
        f"{T_SESSION}::test_server_vad_turn_cycle",
        f"{T_SESSION}::test_session_update_merges_nested_fields",
    ),
    "audio.input.turn_detection.create_response": covered(
        "tests/protocol/test_drafts.py::test_no_automatic_response_keeps_only_the_transcript"
    ),
    "audio.input.turn_detection.interrupt_response": covered(
        f"{T_SESSION}::test_no_interrupt_when_disabled"
    ),
    "audio.input.turn_detection.idle_timeout_ms": covered(
        f"{T_SESSION}::test_idle_timeout_triggers_a_response"
    ),
    "audio.input.turn_detection.eagerness": covered(
        f"{T_SESSION}::test_semantic_vad_eagerness_and_completeness"
    ),
    "audio.output": covered("tests/realtime/test_runner.py::test_g711_output_format"),
    "audio.output.format": covered(
        "tests/realtime/test_runner.py::test_g711_output_format", subtree=True
    ),
    "audio.output.speed": covered(
        "tests/realtime/test_output_speed.py::test_speed_1_5_shortens_the_reply_by_a_quarter_or_more",
        "tests/realtime/test_output_speed.py::test_a_tts_that_cannot_change_speed_fails_the_response_by_name",
        "tests/backends/local/test_tts_speed.py::test_piper_speed_shortens_and_lengthens",
        "tests/backends/local/test_tts_speed.py::test_espeak_speed_shortens_and_lengthens",
        "tests/backends/openai/test_tts_speed.py::test_speed_is_sent_and_shortens_the_audio",
    ),
    "audio.output.voice": covered(
        f"{T_REFUSALS}::test_the_six_voices_are_spoken_as_themselves",
        f"{T_REFUSALS}::test_unknown_voices_are_refused_as_unsupported_voice",
    ),
    "audio.output.voice.id": refused(
        session(audio={"output": {"voice": {"id": "voice_123"}}}), "session.audio.output.voice"
    ),
    "include": covered(
        "tests/protocol/test_transcription_logprobs.py::test_logprobs_go_into_delta_and_completed",
        "tests/protocol/test_transcription_logprobs.py::test_no_logprobs_unless_included",
    ),
    "instructions": covered(
        "tests/protocol/test_drafts.py::test_pause_drafts_and_the_turn_uses_the_draft"
    ),
    "max_output_tokens": covered(
        "tests/protocol/test_max_output_tokens.py::test_the_engine_cap_is_shown_and_its_cut_is_not_the_clients_limit",
        "tests/protocol/test_max_output_tokens.py::test_the_clients_own_limit_makes_the_response_incomplete",
        "tests/protocol/test_max_output_tokens.py::test_the_runner_shows_the_llms_cap_in_session_created",
    ),
    "model": covered(
        "tests/protocol/test_errors.py::test_session_update_naming_another_tier_keeps_the_session_model"
    ),
    "output_modalities": covered(
        "tests/realtime/test_runner.py::test_text_modality_streams_text_deltas"
    ),
    "parallel_tool_calls": covered(
        f"{T_REFUSALS}::test_parallel_tool_calls_reaches_the_llm_request",
        "tests/backends/openai/test_pending_calls.py::test_parallel_tool_calls_is_sent_with_the_tools",
    ),
    "prompt": refused(session(prompt=PROMPT), "session.prompt"),
    "reasoning": hint(
        "tests/realtime/test_runner_llm_features.py::test_reasoning_effort_reaches_the_request",
        note="sent by the seed's assistant script",
    ),
    "reasoning.effort": hint(
        "tests/backends/openai/test_llm_features.py::test_reasoning_effort_is_sent_when_declared"
    ),
    "tool_choice": covered(f"{T_SESSION}::test_function_call_events"),
    "tool_choice.type": covered(f"{T_SESSION}::test_function_call_events"),
    "tool_choice.name": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
    "tool_choice.server_label": covered(f"{T_MCP}::test_mcp_tool_choice_forces_the_tool_once"),
    "tools": covered("tests/realtime/test_runner.py::test_function_call_round_trip"),
    "tools.type": covered("tests/realtime/test_runner.py::test_function_call_round_trip"),
    "tools.name": covered("tests/realtime/test_runner.py::test_function_call_round_trip"),
    "tools.parameters": covered("tests/realtime/test_runner.py::test_function_call_round_trip"),
    "tools.description": covered("tests/sdk/test_openai_sdk.py::test_function_call_round_trip"),
    "tools.defer_loading": refused(
        session(tools=[{"type": "function", "name": "f", "defer_loading": True}]),
        "session.tools.0.defer_loading",
    ),
    "tools.allowed_callers": refused(
        session(tools=[{"type": "function", "name": "f", "allowed_callers": ["x"]}]),
        "session.tools.0.allowed_callers",
    ),
    "tracing": hint(*B["session.tracing"], note="sent by openai-agents: OpenTelemetry spans"),
    "tracing.workflow_name": hint(*B["session.tracing.workflow_name"]),
    "tracing.group_id": hint(*B["session.tracing.group_id"]),
    "tracing.metadata": hint(*B["session.tracing.metadata"]),
    "truncation": covered(
        "tests/realtime/test_truncation.py::test_disabled_fails_the_response_with_context_length_exceeded",
        "tests/backends/local/test_context_window.py::test_disabled_fails_a_conversation_that_no_longer_fits",
    ),
    "truncation.type": covered(
        "tests/realtime/test_truncation.py::test_retention_ratio_and_its_token_limit_reach_the_llm"
    ),
    "truncation.retention_ratio": covered(
        "tests/backends/local/test_context_window.py::test_the_start_moves_only_when_the_limit_is_crossed",
        "tests/backends/local/test_context_window.py::test_retention_ratio_cuts_to_the_ratio_and_keeps_the_start",
        "tests/realtime/test_truncation.py::test_a_ratio_outside_0_to_1_is_refused",
    ),
    "truncation.token_limits": covered(
        "tests/realtime/test_truncation.py::test_retention_ratio_and_its_token_limit_reach_the_llm",
        "tests/backends/local/test_context_window.py::test_retention_ratio_cuts_to_the_ratio_and_keeps_the_start",
        subtree=True,
    ),
}
# Fields only an MCP tool has (realtime2.realtime.mcp; docs/compatibility.md, MCP tools).
SESSION_FIELDS |= {
    "tools.server_label": covered(
        f"{T_MCP}::test_session_update_lists_the_servers_tools_into_an_item",
        f"{T_MCP_RUN}::test_a_spoken_response_calls_the_tool_and_speaks_its_result",
    ),
    "tools.server_url": covered(
        f"{T_MCP_RUN}::test_a_spoken_response_calls_the_tool_and_speaks_its_result",
        f"{T_MCP_RUN}::test_a_host_outside_the_allow_list_fails_the_listing_and_nothing_is_fetched",
    ),
    "tools.server_description": covered(
        f"{T_MCP}::test_server_description_and_response_tools_reach_the_llm"
    ),
    "tools.authorization": covered(
        f"{T_MCP}::test_session_update_lists_the_servers_tools_into_an_item",
        "tests/realtime/test_mcp_client.py::test_headers_reach_the_server_and_never_the_logs",
    ),
    "tools.headers": covered(
        f"{T_MCP}::test_session_update_lists_the_servers_tools_into_an_item",
        "tests/realtime/test_mcp_client.py::test_headers_reach_the_server_and_never_the_logs",
    ),
    "tools.require_approval": covered(
        f"{T_MCP}::test_approval_request_then_approved_call_in_the_next_response",
        f"{T_MCP}::test_a_denied_approval_is_what_the_llm_reads",
        subtree=True,
    ),
    "tools.allowed_tools": covered(
        f"{T_MCP}::test_allowed_tools_filters_what_the_llm_is_offered", subtree=True
    ),
    # OpenAI's own connectors and tunnels: nothing here reaches them.
    "tools.connector_id": refused(
        session(tools=[{**MCP_TOOL, "connector_id": "connector_gmail"}]),
        "session.tools.0.connector_id",
    ),
    "tools.tunnel_id": refused(
        session(tools=[{**MCP_TOOL, "tunnel_id": "t1"}]), "session.tools.0.tunnel_id"
    ),
}

TRANSCRIPTION_SESSION_FIELDS = {
    "type": covered(f"{T_SESSION}::test_transcription_session"),
    "include": SESSION_FIELDS["include"],
    **{
        name: verdict
        for name, verdict in SESSION_FIELDS.items()
        if name.startswith("audio.input") or name == "audio"
    },
}
TRANSLATION_SESSION_FIELDS = {
    "audio": covered(f"{T_TRANSLATION}::test_created_then_updated_with_language_and_transcription"),
    "audio.input": covered(
        f"{T_TRANSLATION}::test_created_then_updated_with_language_and_transcription"
    ),
    "audio.input.noise_reduction": hint(
        "tests/translation/test_noise_reduction.py::test_noise_makes_phrases_only_without_reduction",
        note="speexdsp noise suppression before the phrase VAD",
    ),
    "audio.input.noise_reduction.type": hint(
        "tests/translation/test_noise_reduction.py::test_noise_makes_phrases_only_without_reduction"
    ),
    "audio.input.noise_reduction.strength": hint(
        "tests/audio/test_denoise.py::test_a_stream_returns_every_sample_in_order"
    ),
    "audio.input.transcription": covered(
        f"{T_TRANSLATION}::test_phrases_become_commands_mid_speech_and_close_waits_for_them",
        subtree=True,
    ),
    "audio.output": covered(
        f"{T_TRANSLATION}::test_bad_requests_are_errors_and_the_session_lives_on"
    ),
    "audio.output.language": covered(
        f"{T_TRANSLATION}::test_created_then_updated_with_language_and_transcription",
        f"{T_TRANSLATION}::test_bad_requests_are_errors_and_the_session_lives_on",
    ),
}

T_OUT_OF_BAND = f"{T_SESSION}::test_text_only_response_and_out_of_band_response"
ITEM_FIELDS = {
    "id": covered(f"{T_SESSION}::test_items_create_retrieve_delete_with_placement"),
    "type": covered(f"{T_SESSION}::test_items_create_retrieve_delete_with_placement"),
    "role": covered(
        f"{T_SESSION}::test_items_create_retrieve_delete_with_placement",
        f"{T_EFFECTS}::test_client_item_status_and_object_are_the_servers",
    ),
    "object": covered(f"{T_EFFECTS}::test_client_item_status_and_object_are_the_servers"),
    "status": covered(f"{T_EFFECTS}::test_client_item_status_and_object_are_the_servers"),
    "content": covered(f"{T_SESSION}::test_items_create_retrieve_delete_with_placement"),
    "content.type": covered(f"{T_SESSION}::test_items_create_retrieve_delete_with_placement"),
    "content.text": covered(f"{T_SESSION}::test_items_create_retrieve_delete_with_placement"),
    "content.audio": covered(f"{T_SESSION}::test_user_audio_item_is_transcribed"),
    "content.transcript": covered(
        f"{T_EFFECTS}::test_an_assistant_items_transcript_is_what_the_llm_reads"
    ),
    "content.image_url": covered(
        "tests/protocol/test_images.py::test_image_reaches_the_llm_request_with_vision",
        "tests/protocol/test_images.py::test_image_is_refused_naming_the_part_without_vision",
        "tests/backends/openai/test_llm_features.py::test_images_are_sent_as_image_url_parts",
    ),
    "content.detail": covered(*B["item.content.detail"]),
    "name": covered("tests/realtime/test_runner.py::test_function_call_round_trip"),
    "arguments": covered("tests/realtime/test_runner.py::test_function_call_round_trip"),
    "call_id": covered(
        "tests/realtime/test_runner.py::test_function_call_round_trip",
        "tests/backends/openai/test_pending_calls.py::test_conversation_goes_on_while_a_call_is_pending",
    ),
    "output": covered(
        "tests/realtime/test_runner.py::test_function_call_round_trip",
        "tests/backends/openai/test_pending_calls.py::test_conversation_goes_on_while_a_call_is_pending",
    ),
    # MCP items the server makes (mcp_call, mcp_list_tools): a client may not create them.
    "server_label": refused(item(**MCP_CALL), "item"),
    "error": refused(item(**MCP_CALL, error={"type": "protocol_error", "code": 1}), "item"),
    "tools": refused(item(**MCP_LIST), "item"),
    # A client's mcp_approval_response answers the server's mcp_approval_request.
    "approval_request_id": covered(
        f"{T_MCP}::test_approval_request_then_approved_call_in_the_next_response"
    ),
    "approve": covered(
        f"{T_MCP}::test_approval_request_then_approved_call_in_the_next_response",
        f"{T_MCP}::test_a_denied_approval_is_what_the_llm_reads",
    ),
    "reason": covered(f"{T_MCP}::test_a_denied_approval_is_what_the_llm_reads"),
}

RESPONSE_FIELDS: dict[str, Field] = {
    "audio": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
    "audio.output": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
    "audio.output.format": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own",
        subtree=True,
    ),
    "audio.output.voice": covered(
        f"{T_REFUSALS}::test_unknown_voices_are_refused_as_unsupported_voice"
    ),
    "audio.output.voice.id": refused(
        response(audio={"output": {"voice": {"id": "voice_123"}}}), "response.audio.output.voice"
    ),
    "conversation": covered(T_OUT_OF_BAND),
    "input": covered(
        T_OUT_OF_BAND, "tests/protocol/test_limits.py::test_inline_response_input_is_checked_too"
    ),
    "instructions": covered(T_OUT_OF_BAND),
    "metadata": covered(T_OUT_OF_BAND),
    "output_modalities": covered(T_OUT_OF_BAND),
    "max_output_tokens": covered(
        "tests/protocol/test_max_output_tokens.py::test_the_clients_own_limit_makes_the_response_incomplete"
    ),
    "parallel_tool_calls": SESSION_FIELDS["parallel_tool_calls"],
    "prompt": refused(response(prompt=PROMPT), "response.prompt"),
    "reasoning": hint(
        "tests/realtime/test_runner_llm_features.py::test_reasoning_effort_reaches_the_request"
    ),
    "reasoning.effort": SESSION_FIELDS["reasoning.effort"],
    "tool_choice": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
    "tool_choice.type": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
    "tool_choice.name": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
    "tool_choice.server_label": covered(f"{T_MCP}::test_mcp_tool_choice_forces_the_tool_once"),
    "tools": covered(
        f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
    ),
}
for _name, _verdict in SESSION_FIELDS.items():
    if _name.startswith("tools."):
        if _verdict.verdict == "refused":
            assert _verdict.example is not None
            tools = _verdict.example["session"]["tools"]
            RESPONSE_FIELDS[_name] = refused(response(tools=tools), "response.tools.0")
        elif _name in ("tools.type", "tools.name", "tools.parameters", "tools.description"):
            RESPONSE_FIELDS[_name] = covered(
                f"{T_EFFECTS}::test_response_tools_tool_choice_and_format_are_the_responses_own"
            )
        else:  # an MCP tool's: the session's servers, used by one response
            RESPONSE_FIELDS[_name] = covered(
                f"{T_MCP}::test_server_description_and_response_tools_reach_the_llm",
                f"{T_MCP}::test_refusals_name_the_field",
                subtree=_verdict.subtree,
            )
# Items given inline in response.input: the item table, under response.input.
for _name, _verdict in ITEM_FIELDS.items():
    if _verdict.verdict == "refused":
        assert _verdict.example is not None
        inline = response(input=[_verdict.example["item"]])
        RESPONSE_FIELDS[f"input.{_name}"] = refused(inline, "response.input")
    elif _name in ("approval_request_id", "approve", "reason"):  # only with item.create
        inline = response(input=[{**MCP_APPROVAL, "reason": "r"}])
        RESPONSE_FIELDS[f"input.{_name}"] = refused(inline, "response.input.0")
    else:
        RESPONSE_FIELDS[f"input.{_name}"] = _verdict

FIELDS: dict[str, Field] = {
    **{f"session.{k}": v for k, v in SESSION_FIELDS.items()},
    **{f"transcription_session.{k}": v for k, v in TRANSCRIPTION_SESSION_FIELDS.items()},
    **{f"translation_session.{k}": v for k, v in TRANSLATION_SESSION_FIELDS.items()},
    **{f"response.{k}": v for k, v in RESPONSE_FIELDS.items()},
    **{f"item.{k}": v for k, v in ITEM_FIELDS.items()},
}


# --- walking the SDK's models ---------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _walk(model: type[BaseModel], prefix: str, seen: tuple[type, ...]) -> set[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}"
        paths.add(path)
        for inner in _models_in(info.annotation):
            if inner not in seen:
                paths |= _walk(inner, path, (*seen, inner))
    return paths


def sdk_fields() -> set[str]:
    return {
        path
        for root, annotation in ROOTS.items()
        for model in _models_in(annotation)
        for path in _walk(model, root, (model,))
    }


def decision(path: str) -> Field | None:
    if path in FIELDS:
        return FIELDS[path]
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        found = FIELDS.get(".".join(parts[:end]))
        if found is not None and found.subtree:
            return found
    return None


def test_every_sdk_field_is_decided() -> None:
    fields = sdk_fields()
    assert len(fields) > 200  # the walk reached the nested models
    undecided = sorted(path for path in fields if decision(path) is None)
    assert not undecided, f"SDK fields nobody has decided on: {undecided}"
    stale = sorted(set(FIELDS) - fields)
    assert not stale, f"table entries for fields the SDK no longer has: {stale}"


def test_nothing_is_left_to_decide() -> None:
    """Fields marked `todo` (another engineer's, or open) fail here until decided."""
    open_items = {path: f.note for path, f in FIELDS.items() if f.verdict == "todo"}
    assert not open_items, f"undecided fields: {json.dumps(open_items, indent=1)}"


def _defined_tests(file: str) -> set[str]:
    tree = ast.parse((ROOT / file).read_text())
    return {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_listed_tests_exist() -> None:
    missing = []
    for path, field in FIELDS.items():
        if field.verdict in ("covered", "hint") and not field.tests:
            missing.append(f"{path}: no test listed")
        for node in field.tests:
            file, _, name = node.partition("::")
            if not (ROOT / file).is_file() or name not in _defined_tests(file):
                missing.append(f"{path}: {node}")
    assert not missing, missing


REFUSED = sorted((p, f) for p, f in FIELDS.items() if f.verdict == "refused")


@pytest.mark.parametrize(("path", "field"), REFUSED, ids=[p for p, _ in REFUSED])
def test_refused_fields_are_refused_by_name(path: str, field: Field) -> None:
    assert field.example is not None
    kind = "transcription" if path.startswith("transcription_session.") else "realtime"
    h = Harness(kind=kind)
    events = h.send(field.example)
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert errors, f"{path} was accepted: {[e['type'] for e in events]}"
    assert (errors[0].get("param") or "").startswith(field.param), errors[0]
    assert not [e for e in events if e["type"] in ("session.updated", "response.created")]
