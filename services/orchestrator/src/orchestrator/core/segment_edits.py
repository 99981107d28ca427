"""A segment manager's change (``PATCH /v1/segments/{id}``) as new playbook files (pure).

Only a segment's budget changes: its amount, currency and period. The result is checked and
published like any version; the segments file is written back from its data, so its comments
are replaced by one line saying who changed what.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class UnknownSegmentError(KeyError):
    """No segment with this id in the playbook."""


def with_segment_budget(
    files: Mapping[str, str], segment_id: str, budget: Mapping[str, Any], changed_by: str
) -> tuple[dict[str, str], Any]:
    """The files with ``segment_id``'s budget replaced by ``budget``, and its budget before."""
    document = yaml.safe_load(files["segments.yaml"]) or {}
    for segment in document.get("segments", []):
        if isinstance(segment, dict) and segment.get("id") == segment_id:
            before = segment.get("budget")
            segment["budget"] = dict(budget)
            break
    else:
        raise UnknownSegmentError(segment_id)
    header = f"# Segment {segment_id}'s budget last changed by {changed_by} (PATCH /v1/segments).\n"
    text = header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return {**files, "segments.yaml": text}, before
