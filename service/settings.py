"""Every knob of the service, read once from environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nmt_core.vocabulary import DEFAULT_MAX_SOURCE_PIECES


class Settings(BaseSettings):
    """Environment variables map 1:1 onto fields (MODEL_DIR -> model_dir); unknown variables are ignored."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", protected_namespaces=())

    model_dir: str = "models"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    redis_url: str | None = None
    cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    cache_memory_mb: float = Field(default=64.0, ge=0)
    cache_key_prefix: str = "nmt:"
    redis_timeout_s: float = Field(default=0.25, gt=0)

    batching_mode: Literal["continuous", "static", "none"] = "continuous"
    max_batch_rows: int = Field(default=512, ge=1)  # from the sweep in docs/benchmarks.md
    max_batch_tokens: int = Field(default=16384, ge=1)
    static_max_batch: int = Field(default=16, ge=1)
    static_max_wait_ms: float = Field(default=10.0, ge=0)
    admit_waiting_ratio: float = Field(default=0.25, ge=0)
    admit_max_steps: int = Field(default=8, ge=0)
    max_queue: int = Field(default=1024, ge=1)
    request_timeout_s: float = Field(default=30.0, gt=0)
    # Priorities (docs/streaming.md): bulk work holds at most this share of MAX_BATCH_ROWS while interactive work
    # runs or waits, and the larger share when it runs alone (one bulk sentence always may run); it has its own,
    # longer deadline. 1/32 kept interactive p50 at 1.17x idle beside 500 bulk sentences, 1/16 at 1.59x.
    bulk_row_share: float = Field(default=0.03125, ge=0, le=1)
    bulk_alone_row_share: float = Field(default=0.125, ge=0, le=1)
    bulk_timeout_s: float = Field(default=600.0, gt=0)

    # Document jobs (docs/documents.md): upload size, what a file may unpack to, its units (paragraphs, cells,
    # cues), how long files and results are kept, and when a job whose replica went silent is taken over.
    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_document_unpacked_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    max_document_segments: int = Field(default=20_000, ge=1)
    document_ttl_s: float = Field(default=3600.0, gt=0)
    document_claim_idle_s: float = Field(default=30.0, gt=0)
    document_workers: int = Field(default=1, ge=0)

    max_segments: int = Field(default=128, ge=1)
    max_text_chars: int = Field(default=10_000, ge=1)
    max_beam_size: int = Field(default=8, ge=1)
    max_output_length: int = Field(default=256, ge=1)
    max_source_pieces: int = Field(default=DEFAULT_MAX_SOURCE_PIECES, ge=8)
    # Unset: room for MAX_TEXT_CHARS characters written as JSON \u escapes (6 bytes each) plus 64 KiB.
    max_body_bytes: int | None = Field(default=None, ge=1024)
    body_timeout_s: float = Field(default=10.0, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=1024, ge=1)
    # HTML mode (docs/page-translation.md): markup caps, checked right after parsing (413 html_too_complex),
    # and the worker threads that parse, project and write documents off the event loop.
    max_html_elements: int = Field(default=20_000, ge=1)
    max_inline_tags: int = Field(default=1_000, ge=1)
    html_workers: int = Field(default=2, ge=1)
    # Language detection (source auto, /detect): bounded threads, a deadline, and only the first characters.
    detect_workers: int = Field(default=2, ge=1)
    detect_timeout_s: float = Field(default=5.0, gt=0)
    detect_max_chars: int = Field(default=4_000, ge=1)

    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto: the bundle's cpu_precision on the CPU (int8 where it held BLEU), fp32 on CUDA (never int8)
    precision: Literal["auto", "fp32", "int8"] = "auto"
    # TF32 on CUDA: faster matrix products on Ampere and newer, but answers that differ from the CPU's
    cuda_tf32: bool = False
    # do_not_translate: terms a request may send, and characters a term may have (docs/terminology.md)
    max_do_not_translate_terms: int = Field(default=200, ge=0)
    max_term_chars: int = Field(default=200, ge=1)
    # glossaries: entries in one (inline or stored), and stored glossaries per API key (docs/terminology.md)
    max_glossary_entries: int = Field(default=5000, ge=0)
    max_glossaries: int = Field(default=100, ge=0)
    ort_intra_threads: int | None = Field(default=None, ge=1)

    cors_origins: str = ""
    api_keys: str = ""
    # Rate limits (service/edge/ratelimit.py, docs/security.md); 0 turns a limit off.
    rate_limit_client_requests_per_minute: int = Field(default=0, ge=0)
    rate_limit_client_chars_per_minute: int = Field(default=0, ge=0)
    rate_limit_key_requests_per_minute: int = Field(default=0, ge=0)
    rate_limit_key_chars_per_minute: int = Field(default=0, ge=0)
    trusted_proxy_header: str = ""
    trusted_proxies: str = ""
    frontend_language_source: str = "auto"
    frontend_language_target: str = ""
    frontend_timeout_ms: int = Field(default=500, ge=0)
    drain_timeout_s: float = Field(default=20.0, ge=0)
    log_level: str = "info"

    @cached_property
    def body_limit(self) -> int:
        """Bytes a request body may have: MAX_BODY_BYTES, or what MAX_TEXT_CHARS of the worst-case JSON needs."""
        return self.max_body_bytes or 6 * self.max_text_chars + 64 * 1024

    @cached_property
    def cors_origin_list(self) -> list[str]:
        """Comma-separated in the environment because a JSON list is awkward to write in a k8s manifest."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @cached_property
    def api_key_list(self) -> list[str]:
        """Keys accepted by /v1/translate and the LibreTranslate routes; empty means no key is required."""
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]
